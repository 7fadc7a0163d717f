//! Optimizer steps on the CPU: the ground truth for shaders/optim.wgsl. `step` is the
//! 1-based number of this update (Adam's bias correction).

use crate::desc::optim::Optimizer;

pub fn optimizer_step(opt: &Optimizer, step: u32, params: &mut [f32], grads: &[f32], s1: &mut [f32], s2: &mut [f32]) {
    for i in 0..params.len() {
        let p = params[i] as f64;
        let update = match *opt {
            Optimizer::Sgd { lr, momentum, nesterov, weight_decay } => {
                let g = grads[i] as f64 + weight_decay as f64 * p;
                let v = momentum as f64 * s1[i] as f64 + g;
                s1[i] = v as f32;
                lr as f64 * if nesterov { g + momentum as f64 * v } else { v }
            }
            Optimizer::Adam { lr, beta1, beta2, eps, weight_decay } => {
                let (b1, b2) = (beta1 as f64, beta2 as f64);
                let g = grads[i] as f64 + weight_decay as f64 * p;
                let m = b1 * s1[i] as f64 + (1.0 - b1) * g;
                let v = b2 * s2[i] as f64 + (1.0 - b2) * g * g;
                (s1[i], s2[i]) = (m as f32, v as f32);
                let m_hat = m / (1.0 - b1.powi(step as i32));
                let v_hat = v / (1.0 - b2.powi(step as i32));
                lr as f64 * m_hat / (v_hat.sqrt() + eps as f64)
            }
            Optimizer::RmsProp { lr, rho, eps, weight_decay } => {
                let g = grads[i] as f64 + weight_decay as f64 * p;
                let v = rho as f64 * s1[i] as f64 + (1.0 - rho as f64) * g * g;
                s1[i] = v as f32;
                lr as f64 * g / (v.sqrt() + eps as f64)
            }
            Optimizer::Adadelta { lr, rho, eps, weight_decay } => {
                let (r, e) = (rho as f64, eps as f64);
                let g = grads[i] as f64 + weight_decay as f64 * p;
                let v = r * s1[i] as f64 + (1.0 - r) * g * g;
                let delta = (s2[i] as f64 + e).sqrt() / (v + e).sqrt() * g;
                s1[i] = v as f32;
                s2[i] = (r * s2[i] as f64 + (1.0 - r) * delta * delta) as f32;
                lr as f64 * delta
            }
        };
        params[i] = (p - update) as f32;
    }
}
