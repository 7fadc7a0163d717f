//! Input normalization forward and backward (shaders/normalize.wgsl). CPU twin:
//! `reference::normalize`.

use super::kernel::{groups_for, Dispatch, Shader, View};
use crate::error::Error;
use crate::gpu::uniform;
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "normalize", source: include_str!("../../shaders/normalize.wgsl") };

uniform! {
    /// The uniform of shaders/normalize.wgsl, field by field (`std` is a WGSL reserved word).
    pub struct NormalizeParams { n: u32, mean: f32, deviation: f32, _p0: u32 }
}

/// y = (x - mean) / std over `n` elements.
pub fn normalize_forward(gpu: &Gpu, n: usize, mean: f32, std: f32, x: &View, y: &View) -> Result<Dispatch, Error> {
    x.expect("normalize input", n)?;
    y.expect("normalize output", n)?;
    let p = NormalizeParams { n: n as u32, mean, deviation: std, _p0: 0 };
    Dispatch::new(gpu, SHADER, "normalize_forward", &p, &[(1, x), (2, y)], groups_for(n))
}

/// dx = dy / std.
pub fn normalize_backward(gpu: &Gpu, n: usize, mean: f32, std: f32, dy: &View, dx: &View) -> Result<Dispatch, Error> {
    dy.expect("normalize output gradient", n)?;
    dx.expect("normalize input gradient", n)?;
    let p = NormalizeParams { n: n as u32, mean, deviation: std, _p0: 0 };
    Dispatch::new(gpu, SHADER, "normalize_backward", &p, &[(3, dy), (4, dx)], groups_for(n))
}
