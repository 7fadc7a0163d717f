//! Every op once more, as the ground truth: plain loops with f64 sums, short enough to
//! check by eye. Each function has the name of its engines' op and takes slices where the
//! GPU op takes views; it imports only the op descriptions (`crate::desc`). The whole
//! network over these ops is `model::reference`.

pub mod batchnorm;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod gather;
pub mod maxpool;
pub mod normalize;
pub mod optim;
pub mod reduce;
pub mod relu;
pub mod softmax_xent;
