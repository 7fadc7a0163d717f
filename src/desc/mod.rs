//! Engine-neutral op descriptions: each op's shape or configuration, the optimizers and
//! their learning-rate schedules, the dropout hash and the data's byte packing. Both
//! engines (`ops` on the GPU, `cpu`), the f64 `reference` and the model plan take their
//! op parameters from here; this module imports nothing but `error`.

// One module per file of this folder (automod).
automod::dir!(pub "src/desc");
