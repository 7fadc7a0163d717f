//! wgpu-mnist: train convolutional networks on MNIST on the GPU, in the browser through
//! WebGPU and natively through wgpu, with a hand-written WGSL kernel for every op.

pub mod benchmark;
pub mod clock;
pub mod cpu;
pub mod data;
pub mod error;
pub mod gpu;
pub mod model;
pub mod ops;
pub mod preprocess;
pub mod reference;
pub mod rng;
pub mod selftest;
pub mod train;

pub use error::Error;
pub use gpu::Gpu;

#[cfg(target_arch = "wasm32")]
pub mod web;
