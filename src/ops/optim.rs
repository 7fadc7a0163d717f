//! Optimizer steps over a flat parameter buffer (shaders/optim.wgsl). CPU twin:
//! `reference::optim`.

use super::kernel::{groups_for, Dispatch, Shader, View};
use crate::desc::optim::Optimizer;
use crate::error::{shape_err, Error};
use crate::gpu::uniform;
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "optim", source: include_str!("../../shaders/optim.wgsl") };

impl Optimizer {
    /// The uniform of shaders/optim.wgsl for `n` parameters and a table of `rates` rates.
    fn params(&self, n: usize, rates: usize) -> OptimParams {
        let mut p = OptimParams { n: n as u32, rates: rates as u32, ..bytemuck::Zeroable::zeroed() };
        match *self {
            Optimizer::Sgd { momentum, nesterov, weight_decay, .. } => {
                (p.momentum, p.nesterov, p.weight_decay) = (momentum, nesterov as u32, weight_decay)
            }
            Optimizer::Adam { beta1, beta2, eps, weight_decay, .. } => {
                (p.beta1, p.beta2, p.eps, p.weight_decay) = (beta1, beta2, eps, weight_decay)
            }
            Optimizer::RmsProp { rho, eps, weight_decay, .. } | Optimizer::Adadelta { rho, eps, weight_decay, .. } => {
                (p.rho, p.eps, p.weight_decay) = (rho, eps, weight_decay)
            }
        }
        p
    }
}

uniform! {
    /// The uniform of shaders/optim.wgsl, field by field (the learning rate is in the
    /// rates table, see `crate::desc::optim::Schedule`).
    pub struct OptimParams {
        n: u32, nesterov: u32, rates: u32, _p0: u32,
        momentum: f32, beta1: f32, beta2: f32, eps: f32,
        rho: f32, weight_decay: f32, _p1: f32, _p2: f32,
    }
}

/// The dispatches of one optimizer step: advance the step counter, then update every
/// parameter from its gradient and the optimizer state `s1`, `s2` (each as long as
/// params) at the step's rate from `rates` (see `crate::desc::optim::rate_at`).
pub fn optimizer_step(
    gpu: &Gpu,
    opt: &Optimizer,
    params: &View,
    grads: &View,
    s1: &View,
    s2: &View,
    step: &View,
    rates: &View,
) -> Result<Vec<Dispatch>, Error> {
    let n = params.len;
    for (what, v) in [("gradients", grads), ("optimizer state 1", s1), ("optimizer state 2", s2)] {
        if v.len != n {
            return Err(shape_err!("{what} have {} elements, the parameters {n}", v.len));
        }
    }
    step.expect("step counter", 1)?;
    if rates.len == 0 {
        return Err(shape_err!("a learning-rate table needs at least one rate"));
    }
    let p = opt.params(n, rates.len);
    let views: Vec<(u32, &View)> = match opt {
        Optimizer::Sgd { .. } | Optimizer::RmsProp { .. } => vec![(1, params), (2, grads), (3, s1), (6, step), (7, rates)],
        Optimizer::Adam { .. } | Optimizer::Adadelta { .. } => vec![(1, params), (2, grads), (3, s1), (4, s2), (6, step), (7, rates)],
    };
    Ok(vec![
        Dispatch::new(gpu, SHADER, "begin_step", &p, &[(5, step)], 1)?,
        Dispatch::new(gpu, SHADER, opt.update_rule(), &p, &views, groups_for(n))?,
    ])
}
