//! wgpu-mnist: train convolutional networks on MNIST on the GPU, in the browser through
//! WebGPU and natively through wgpu, with a hand-written WGSL kernel for every op.

pub mod benchmark;
pub mod clock;
pub mod cpu;
pub mod data;
pub mod desc;
pub mod error;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod model;
#[cfg(feature = "gpu")]
pub mod ops;
pub mod preprocess;
pub mod reference;
pub mod rng;
pub mod selftest;
pub mod train;

pub use error::Error;
#[cfg(feature = "gpu")]
pub use gpu::Gpu;

#[cfg(all(target_arch = "wasm32", feature = "gpu"))]
pub mod web;
