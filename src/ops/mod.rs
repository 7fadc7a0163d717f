//! GPU ops: each module prepares the dispatches of one WGSL shader. No math here: the
//! math is in `shaders/`, the op's shape in `crate::desc`, and the same op in f64 in
//! `crate::reference`. Beside the kernels: their candidates (`choice`), the autotuner
//! that times them (`tune`, `kernel_cache`), and per-dispatch timing (`profile`).

pub mod batchnorm;
pub mod choice;
pub mod conv2d;
pub mod conv2d_winograd;
pub mod dense;
pub mod dropout;
pub mod gather;
pub mod kernel;
pub mod kernel_cache;
pub mod maxpool;
pub mod normalize;
pub mod optim;
pub mod profile;
pub mod reduce;
pub mod relu;
pub mod softmax_xent;
pub mod tune;

pub use kernel::{run, Dispatch, View};
