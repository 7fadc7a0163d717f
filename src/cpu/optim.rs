//! Optimizer steps on the CPU engine, in f32 with the formulas of shaders/optim.wgsl
//! (reference: `reference::optim`). `step` is the 1-based number of this update.

use crate::desc::optim::Optimizer;

pub fn optimizer_step(opt: &Optimizer, step: u32, params: &mut [f32], grads: &[f32], s1: &mut [f32], s2: &mut [f32]) {
    let n = params.len();
    let (grads, s1, s2) = (&grads[..n], &mut s1[..n], &mut s2[..n]);
    // WGSL's mix(a, b, t) = a * (1 - t) + b * t.
    let mix = |a: f32, b: f32, t: f32| a * (1.0 - t) + b * t;
    match *opt {
        Optimizer::Sgd { lr, momentum, nesterov, weight_decay } => {
            for i in 0..n {
                let g = grads[i] + weight_decay * params[i];
                let v = momentum * s1[i] + g;
                s1[i] = v;
                params[i] -= lr * if nesterov { g + momentum * v } else { v };
            }
        }
        Optimizer::Adam { lr, beta1, beta2, eps, weight_decay } => {
            let t = step as f32;
            let (c1, c2) = (1.0 - beta1.powf(t), 1.0 - beta2.powf(t));
            for i in 0..n {
                let g = grads[i] + weight_decay * params[i];
                let m = mix(g, s1[i], beta1);
                let v = mix(g * g, s2[i], beta2);
                s1[i] = m;
                s2[i] = v;
                params[i] -= lr * (m / c1) / ((v / c2).sqrt() + eps);
            }
        }
        Optimizer::RmsProp { lr, rho, eps, weight_decay } => {
            for i in 0..n {
                let g = grads[i] + weight_decay * params[i];
                let v = mix(g * g, s1[i], rho);
                s1[i] = v;
                params[i] -= lr * g / (v.sqrt() + eps);
            }
        }
        Optimizer::Adadelta { lr, rho, eps, weight_decay } => {
            for i in 0..n {
                let g = grads[i] + weight_decay * params[i];
                let v = mix(g * g, s1[i], rho);
                let delta = (s2[i] + eps).sqrt() / (v + eps).sqrt() * g;
                s1[i] = v;
                s2[i] = mix(delta * delta, s2[i], rho);
                params[i] -= lr * delta;
            }
        }
    }
}
