//! Optimizer steps over a flat parameter buffer (shaders/optim.wgsl). CPU twin:
//! `reference::optim`.

use super::kernel::{groups_for, Dispatch, Shader, View};
use crate::error::{shape_err, Error};
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "optim", source: include_str!("../../shaders/optim.wgsl") };

/// An optimizer and its hyperparameters (PyTorch's definitions; Adadelta as in Keras).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Optimizer {
    Sgd { lr: f32, momentum: f32, nesterov: bool, weight_decay: f32 },
    Adam { lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32 },
    RmsProp { lr: f32, rho: f32, eps: f32, weight_decay: f32 },
    Adadelta { lr: f32, rho: f32, eps: f32, weight_decay: f32 },
}

impl Optimizer {
    /// The WGSL entry point that applies this optimizer.
    pub fn entry(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
            Optimizer::RmsProp { .. } => "rmsprop",
            Optimizer::Adadelta { .. } => "adadelta",
        }
    }

    /// The names the command line and the page know, each with its framework defaults
    /// (PyTorch's; Keras' for RMSprop and Adadelta, as the Keras tutorial used them).
    pub const NAMES: [&'static str; 5] = ["sgd", "nesterov", "adam", "rmsprop", "adadelta"];

    /// An optimizer by name, with its defaults; None for an unknown name.
    pub fn named(name: &str) -> Option<Optimizer> {
        Some(match name {
            "sgd" => Optimizer::Sgd { lr: 0.01, momentum: 0.9, nesterov: false, weight_decay: 0.0 },
            "nesterov" => Optimizer::Sgd { lr: 0.01, momentum: 0.9, nesterov: true, weight_decay: 0.0 },
            "adam" => Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
            "rmsprop" => Optimizer::RmsProp { lr: 1e-3, rho: 0.9, eps: 1e-7, weight_decay: 0.0 },
            "adadelta" => Optimizer::Adadelta { lr: 1.0, rho: 0.95, eps: 1e-7, weight_decay: 0.0 },
            _ => return None,
        })
    }

    /// The same optimizer with another learning rate.
    pub fn with_lr(mut self, new: f32) -> Optimizer {
        match &mut self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } | Optimizer::RmsProp { lr, .. } | Optimizer::Adadelta { lr, .. } => {
                *lr = new
            }
        }
        self
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } | Optimizer::RmsProp { lr, .. } | Optimizer::Adadelta { lr, .. } => lr,
        }
    }

    /// [n, nesterov, 0, 0, lr, momentum, beta1, beta2, eps, rho, weight_decay, 0] as u32 bits.
    fn params(&self, n: usize) -> [u32; 12] {
        let (mut nesterov, mut momentum, mut beta1, mut beta2, mut eps, mut rho) = (0u32, 0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
        let (lr, wd) = match *self {
            Optimizer::Sgd { lr, momentum: m, nesterov: nv, weight_decay } => {
                (momentum, nesterov) = (m, nv as u32);
                (lr, weight_decay)
            }
            Optimizer::Adam { lr, beta1: b1, beta2: b2, eps: e, weight_decay } => {
                (beta1, beta2, eps) = (b1, b2, e);
                (lr, weight_decay)
            }
            Optimizer::RmsProp { lr, rho: r, eps: e, weight_decay } | Optimizer::Adadelta { lr, rho: r, eps: e, weight_decay } => {
                (rho, eps) = (r, e);
                (lr, weight_decay)
            }
        };
        let f = |v: f32| v.to_bits();
        [n as u32, nesterov, 0, 0, f(lr), f(momentum), f(beta1), f(beta2), f(eps), f(rho), f(wd), 0]
    }
}

/// The dispatches of one optimizer step: advance the step counter, then update every
/// parameter from its gradient and the optimizer state `s1`, `s2` (each as long as params).
pub fn optimizer_step(
    gpu: &Gpu,
    opt: &Optimizer,
    params: &View,
    grads: &View,
    s1: &View,
    s2: &View,
    step: &View,
) -> Result<Vec<Dispatch>, Error> {
    let n = params.len;
    for (what, v) in [("gradients", grads), ("optimizer state 1", s1), ("optimizer state 2", s2)] {
        if v.len != n {
            return Err(shape_err!("{what} have {} elements, the parameters {n}", v.len));
        }
    }
    step.expect("step counter", 1)?;
    let p = opt.params(n);
    let views: Vec<(u32, &View)> = match opt {
        Optimizer::Sgd { .. } | Optimizer::RmsProp { .. } => vec![(1, params), (2, grads), (3, s1)],
        Optimizer::Adam { .. } => vec![(1, params), (2, grads), (3, s1), (4, s2), (6, step)],
        Optimizer::Adadelta { .. } => vec![(1, params), (2, grads), (3, s1), (4, s2)],
    };
    Ok(vec![
        Dispatch::new(gpu, SHADER, "begin_step", &p, &[(5, step)], 1)?,
        Dispatch::new(gpu, SHADER, opt.entry(), &p, &views, groups_for(n))?,
    ])
}
