//! ReLU forward and backward (shaders/relu.wgsl), for where it is not fused into the
//! producing kernel. CPU twin: `reference::relu`.

use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use crate::error::Error;
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "relu", source: include_str!("../../shaders/relu.wgsl") };

uniform! {
    /// `ReluParams` of shaders/relu.wgsl.
    pub struct ReluParams { n: u32, _p0: u32, _p1: u32, _p2: u32 }
}

fn params(n: usize) -> ReluParams {
    ReluParams { n: n as u32, _p0: 0, _p1: 0, _p2: 0 }
}

/// y = max(x, 0).
pub fn relu_forward(gpu: &Gpu, n: usize, x: &View, y: &View) -> Result<Dispatch, Error> {
    x.expect("relu input", n)?;
    y.expect("relu output", n)?;
    Dispatch::new(gpu, SHADER, "relu_forward", &params(n), &[(1, x), (2, y)], groups_for(n))
}

/// dx = dy where y > 0, else 0.
pub fn relu_backward(gpu: &Gpu, n: usize, y: &View, dy: &View, dx: &View) -> Result<Dispatch, Error> {
    y.expect("relu output", n)?;
    dy.expect("relu output gradient", n)?;
    dx.expect("relu input gradient", n)?;
    Dispatch::new(gpu, SHADER, "relu_backward", &params(n), &[(3, y), (4, dy), (5, dx)], groups_for(n))
}
