//! Batch normalization over channels (shaders/batchnorm.wgsl). CPU twin:
//! `reference::batchnorm`. `stats` holds [mean.., invstd..] of the last training batch,
//! `running` holds [mean.., var..].

use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use crate::desc::batchnorm::BatchNormShape;
use crate::error::{shape_err, Error};
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "batchnorm", source: include_str!("../../shaders/batchnorm.wgsl") };

impl BatchNormShape {
    fn params(&self, training: bool) -> Result<BatchNormParams, Error> {
        if self.len() == 0 {
            return Err(shape_err!("batchnorm: empty tensor {self:?}"));
        }
        Ok(BatchNormParams {
            n: self.n as u32,
            channels: self.channels as u32,
            inner: self.inner as u32,
            training: training as u32,
            eps: self.eps,
            momentum: self.momentum,
            _p0: 0,
            _p1: 0,
        })
    }
    fn check(&self, views: &[(&str, &View, usize)]) -> Result<(), Error> {
        views.iter().try_for_each(|(what, v, len)| v.expect(what, *len).map(|_| ()))
    }
}

uniform! {
    /// `BatchNormParams` of shaders/batchnorm.wgsl.
    pub struct BatchNormParams { n: u32, channels: u32, inner: u32, training: u32, eps: f32, momentum: f32, _p0: u32, _p1: u32 }
}

/// Training: batch statistics (and running update), then normalize. Eval: normalize with
/// the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(
    gpu: &Gpu,
    s: &BatchNormShape,
    training: bool,
    x: &View,
    gamma: &View,
    beta: &View,
    stats: &View,
    running: &View,
    y: &View,
) -> Result<Vec<Dispatch>, Error> {
    let params = s.params(training)?;
    let c = s.channels;
    s.check(&[
        ("batchnorm input", x, s.len()),
        ("gamma", gamma, c),
        ("beta", beta, c),
        ("batch stats", stats, 2 * c),
        ("running stats", running, 2 * c),
        ("batchnorm output", y, s.len()),
    ])?;
    let mut out = Vec::new();
    if training {
        out.push(Dispatch::new(gpu, SHADER, "batchnorm_stats", &params, &[(1, x), (4, stats), (5, running)], c as u64)?);
    }
    out.push(Dispatch::new(
        gpu,
        SHADER,
        "batchnorm_apply",
        &params,
        &[(1, x), (2, gamma), (3, beta), (11, stats), (14, running), (6, y)],
        groups_for(s.len()),
    )?);
    Ok(out)
}

/// Gradients w.r.t. gamma, beta and the input, using the statistics of the forward pass.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    gpu: &Gpu,
    s: &BatchNormShape,
    x: &View,
    dy: &View,
    gamma: &View,
    stats: &View,
    dgamma: &View,
    dbeta: &View,
    dx: &View,
) -> Result<Vec<Dispatch>, Error> {
    let params = s.params(true)?;
    let c = s.channels;
    s.check(&[
        ("batchnorm input", x, s.len()),
        ("batchnorm output gradient", dy, s.len()),
        ("gamma", gamma, c),
        ("batch stats", stats, 2 * c),
        ("dgamma", dgamma, c),
        ("dbeta", dbeta, c),
        ("batchnorm input gradient", dx, s.len()),
    ])?;
    Ok(vec![
        Dispatch::new(
            gpu,
            SHADER,
            "batchnorm_backward_params",
            &params,
            &[(1, x), (7, dy), (11, stats), (8, dgamma), (9, dbeta)],
            c as u64,
        )?,
        Dispatch::new(
            gpu,
            SHADER,
            "batchnorm_backward_input",
            &params,
            &[(1, x), (7, dy), (2, gamma), (11, stats), (12, dgamma), (13, dbeta), (10, dx)],
            groups_for(s.len()),
        )?,
    ])
}

/// The input gradient in eval mode (running statistics): what saliency needs below a batch
/// norm layer of a trained network. No parameter gradients.
pub fn batchnorm_backward_eval(gpu: &Gpu, s: &BatchNormShape, dy: &View, gamma: &View, running: &View, dx: &View) -> Result<Dispatch, Error> {
    let params = s.params(false)?;
    let c = s.channels;
    s.check(&[
        ("batchnorm output gradient", dy, s.len()),
        ("gamma", gamma, c),
        ("running stats", running, 2 * c),
        ("batchnorm input gradient", dx, s.len()),
    ])?;
    Dispatch::new(gpu, SHADER, "batchnorm_backward_eval", &params, &[(7, dy), (2, gamma), (14, running), (10, dx)], groups_for(s.len()))
}
