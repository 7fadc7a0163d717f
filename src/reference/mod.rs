//! Every GPU op again on the CPU: plain loops with f64 sums, short enough to check by eye.
//! The ground truth for the tests, and the engine for browsers without WebGPU. Each
//! function has the name of its GPU op and takes slices where the op takes views.

pub mod batchnorm;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod gather;
pub mod maxpool;
pub mod network;
pub mod normalize;
pub mod optim;
pub mod reduce;
pub mod relu;
pub mod softmax_xent;
