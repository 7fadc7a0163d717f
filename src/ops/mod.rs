//! GPU ops: each module prepares the dispatches of one WGSL shader. No math here: the
//! math is in `shaders/`, the op's shape in `crate::desc`, and the same op in f64 in
//! `crate::reference`. Beside the kernels: their candidates (`choice`), the autotuner
//! that times them (`tune`, `kernel_cache`), and per-dispatch timing (`profile`).

// One module per file of this folder: a new op needs no line here (automod).
automod::dir!(pub "src/ops");

pub use kernel::{run, Dispatch, View};
