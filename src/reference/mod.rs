//! Every op once more, as the ground truth: plain loops with f64 sums, short enough to
//! check by eye. Each function has the name of its engines' op and takes slices where the
//! GPU op takes views; it imports only the op descriptions (`crate::desc`). The whole
//! network over these ops is `model::reference`.

// One module per file of this folder: a new op needs no line here (automod).
automod::dir!(pub "src/reference");
