//! The optimizers and learning-rate schedules: their hyperparameters and defaults, and the
//! rate of every step, computed on the host as PyTorch computes them.

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
    /// Its update rule (Nesterov is SGD's), which names the WGSL entry point that applies
    /// it and the CPU engine's profile row.
    pub fn update_rule(&self) -> &'static str {
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

    /// How many state buffers the update reads and writes (momentum; Adam's two moments;
    /// Adadelta's two accumulators).
    pub fn state_slots(&self) -> usize {
        match self {
            Optimizer::Sgd { .. } | Optimizer::RmsProp { .. } => 1,
            Optimizer::Adam { .. } | Optimizer::Adadelta { .. } => 2,
        }
    }

    /// Its name in `NAMES`.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { nesterov: true, .. } => "nesterov",
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
            Optimizer::RmsProp { .. } => "rmsprop",
            Optimizer::Adadelta { .. } => "adadelta",
        }
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
}

/// How the learning rate moves over a run, stepped once per batch like PyTorch's
/// schedulers; the optimizer's `lr` is the peak (one-cycle) or starting rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Schedule {
    #[default]
    Constant,
    /// PyTorch's OneCycleLR (cosine, two phases, no momentum cycling): from lr /
    /// div_factor up to lr over the first pct_start of the run, then down to lr /
    /// (div_factor * final_div_factor).
    OneCycle { pct_start: f64, div_factor: f64, final_div_factor: f64 },
    /// PyTorch's StepLR stepped each epoch: lr * gamma^(epoch / every_epochs).
    StepDecay { every_epochs: usize, gamma: f64 },
}

impl Schedule {
    /// OneCycleLR with PyTorch's defaults.
    pub const ONE_CYCLE: Schedule = Schedule::OneCycle { pct_start: 0.3, div_factor: 25.0, final_div_factor: 1e4 };

    /// The names the command line and the page know, each with PyTorch's defaults
    /// (step decay: StepLR(step_size=1, gamma=0.7), as PyTorch's MNIST example uses it).
    pub const NAMES: [&'static str; 3] = ["constant", "one-cycle", "step"];

    /// A schedule by name, with its defaults; None for an unknown name.
    pub fn named(name: &str) -> Option<Schedule> {
        Some(match name {
            "constant" => Schedule::Constant,
            "one-cycle" => Schedule::ONE_CYCLE,
            "step" => Schedule::StepDecay { every_epochs: 1, gamma: 0.7 },
            _ => return None,
        })
    }

    /// Its name in `NAMES`.
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::OneCycle { .. } => "one-cycle",
            Schedule::StepDecay { .. } => "step",
        }
    }

    /// The learning rate of every step of a run of `epochs` epochs of `steps_per_epoch`
    /// steps (one rate for a constant schedule), in f64 as PyTorch computes them.
    pub fn rates(&self, lr: f32, steps_per_epoch: usize, epochs: usize) -> Vec<f32> {
        let total = (steps_per_epoch * epochs).max(1);
        let lr = lr as f64;
        match *self {
            Schedule::Constant => vec![lr as f32],
            Schedule::OneCycle { pct_start, div_factor, final_div_factor } => {
                let initial = lr / div_factor;
                let min = initial / final_div_factor;
                // torch.optim.lr_scheduler.OneCycleLR, three_phase=False.
                let cos = |start: f64, end: f64, pct: f64| end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0);
                let warm_end = pct_start * total as f64 - 1.0;
                let end = total as f64 - 1.0;
                (0..total)
                    .map(|t| {
                        let t = t as f64;
                        // (A warm-up shorter than one step starts at the peak, where PyTorch divides by zero.)
                        let r = if t <= warm_end {
                            cos(initial, lr, t / warm_end)
                        } else {
                            cos(lr, min, if end > warm_end.max(0.0) { (t - warm_end.max(0.0)) / (end - warm_end.max(0.0)) } else { 1.0 })
                        };
                        r as f32
                    })
                    .collect()
            }
            Schedule::StepDecay { every_epochs, gamma } => {
                (0..total).map(|t| (lr * gamma.powi((t / steps_per_epoch.max(1) / every_epochs.max(1)) as i32)) as f32).collect()
            }
        }
    }
}

/// The rate of the update after `steps_done` steps: the table's entry, or its last past
/// the end (what shaders/optim.wgsl's `learning_rate` reads).
pub fn rate_at(rates: &[f32], steps_done: u32) -> f32 {
    rates[(steps_done as usize).min(rates.len() - 1)]
}
