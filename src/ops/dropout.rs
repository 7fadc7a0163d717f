//! Dropout and channel dropout (shaders/dropout.wgsl). CPU twin: `reference::dropout`.

use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use crate::desc::dropout::DropoutConfig;
use crate::error::{shape_err, Error};
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "dropout", source: include_str!("../../shaders/dropout.wgsl") };

impl DropoutConfig {
    fn params(&self, n: usize) -> Result<DropoutParams, Error> {
        if !(0.0..1.0).contains(&self.rate) || self.unit_size == 0 || !n.is_multiple_of(self.unit_size) {
            return Err(shape_err!("dropout: rate must be in [0, 1) and the unit size must divide {n}: {self:?}"));
        }
        Ok(DropoutParams {
            n: n as u32,
            unit_size: self.unit_size as u32,
            seed: self.seed,
            drop_threshold: self.drop_threshold(),
            scale: self.scale(),
            training: self.training as u32,
            _p0: 0,
            _p1: 0,
        })
    }
}

uniform! {
    /// `DropoutParams` of shaders/dropout.wgsl.
    pub struct DropoutParams { n: u32, unit_size: u32, seed: u32, drop_threshold: u32, scale: f32, training: u32, _p0: u32, _p1: u32 }
}

/// y = x * mask * scale; `step` is the GPU step counter (one u32) that varies the mask.
pub fn dropout_forward(gpu: &Gpu, c: &DropoutConfig, n: usize, x: &View, step: &View, y: &View) -> Result<Dispatch, Error> {
    let params = c.params(n)?;
    x.expect("dropout input", n)?;
    y.expect("dropout output", n)?;
    Dispatch::new(gpu, SHADER, "dropout_forward", &params, &[(1, x), (2, y), (3, step)], groups_for(n))
}

/// dx = dy * mask * scale, with the same mask as the forward pass of this step.
pub fn dropout_backward(gpu: &Gpu, c: &DropoutConfig, n: usize, dy: &View, step: &View, dx: &View) -> Result<Dispatch, Error> {
    let params = c.params(n)?;
    dy.expect("dropout output gradient", n)?;
    dx.expect("dropout input gradient", n)?;
    Dispatch::new(gpu, SHADER, "dropout_backward", &params, &[(3, step), (4, dy), (5, dx)], groups_for(n))
}
