//! Max-pooling 2x2 stride 2 (shaders/maxpool.wgsl). CPU twin: `reference::maxpool`.

use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use crate::desc::maxpool::PoolShape;
use crate::error::{shape_err, Error};
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "maxpool", source: include_str!("../../shaders/maxpool.wgsl") };

impl PoolShape {
    fn params(&self) -> Result<PoolParams, Error> {
        if self.planes == 0 || self.in_h < 2 || self.in_w < 2 {
            return Err(shape_err!("maxpool needs at least a 2x2 input: {self:?}"));
        }
        let u = |v: usize| v as u32;
        Ok(PoolParams {
            planes: u(self.planes),
            in_h: u(self.in_h),
            in_w: u(self.in_w),
            out_h: u(self.out_h()),
            out_w: u(self.out_w()),
            _p0: 0,
            _p1: 0,
            _p2: 0,
        })
    }
}

uniform! {
    /// `PoolParams` of shaders/maxpool.wgsl.
    pub struct PoolParams { planes: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32, _p0: u32, _p1: u32, _p2: u32 }
}

/// y = max over each 2x2 window; argmax = flat input index of the winner.
pub fn maxpool_forward(gpu: &Gpu, s: &PoolShape, x: &View, y: &View, argmax: &View) -> Result<Dispatch, Error> {
    let params = s.params()?;
    x.expect("maxpool input", s.input_len())?;
    y.expect("maxpool output", s.output_len())?;
    argmax.expect("maxpool argmax", s.output_len())?;
    Dispatch::new(gpu, SHADER, "maxpool_forward", &params, &[(1, x), (2, y), (3, argmax)], groups_for(s.output_len()))
}

/// dx = dy at each window's winner, 0 elsewhere (also rows/columns cut off by the floor).
pub fn maxpool_backward(gpu: &Gpu, s: &PoolShape, dy: &View, argmax: &View, dx: &View) -> Result<Dispatch, Error> {
    let params = s.params()?;
    dy.expect("maxpool output gradient", s.output_len())?;
    argmax.expect("maxpool argmax", s.output_len())?;
    dx.expect("maxpool input gradient", s.input_len())?;
    Dispatch::new(gpu, SHADER, "maxpool_backward", &params, &[(4, dy), (5, argmax), (6, dx)], groups_for(s.input_len()))
}
