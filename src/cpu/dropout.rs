//! Dropout on the CPU engine with the counter hash of shaders/dropout.wgsl, so a step
//! drops the same units on both engines. `step` is the number of steps taken before.

use crate::desc::dropout::pcg_hash;
use crate::desc::dropout::DropoutConfig;

/// y = x * factor; one hash per unit (an element, or a channel's plane).
pub fn dropout_forward(c: &DropoutConfig, step: u32, x: &[f32], y: &mut [f32]) {
    if !c.training {
        y.copy_from_slice(x);
        return;
    }
    let (threshold, scale) = (c.drop_threshold(), c.scale());
    let step_seed = pcg_hash(c.seed ^ pcg_hash(step));
    for (unit, (ys, xs)) in y.chunks_mut(c.unit_size).zip(x.chunks(c.unit_size)).enumerate() {
        let factor = if pcg_hash(step_seed.wrapping_add(unit as u32)) >= threshold { scale } else { 0.0 };
        ys.iter_mut().zip(xs).for_each(|(y, x)| *y = x * factor);
    }
}

/// The same mask applied to the gradient.
pub fn dropout_backward(c: &DropoutConfig, step: u32, dy: &[f32], dx: &mut [f32]) {
    dropout_forward(c, step, dy, dx)
}
