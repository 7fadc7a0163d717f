//! GPU ops: each module prepares the dispatches of one WGSL shader. No math here: the
//! math is in `shaders/`, and the same op on the CPU is in `crate::reference`.

pub mod batchnorm;
pub mod choice;
pub mod conv2d;
pub mod conv2d_winograd;
pub mod dense;
pub mod dropout;
pub mod gather;
pub mod kernel;
pub mod maxpool;
pub mod normalize;
pub mod optim;
pub mod reduce;
pub mod relu;
pub mod softmax_xent;

pub use kernel::{run, Dispatch, View};
