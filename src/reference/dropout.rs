//! Dropout on the CPU with the same counter-based hash as shaders/dropout.wgsl, so the
//! masks agree bit for bit.

use crate::desc::dropout::{pcg_hash, DropoutConfig};

/// The multiplier of element `i` at training step `step`.
pub fn dropout_factor(c: &DropoutConfig, step: u32, i: usize) -> f32 {
    if !c.training {
        return 1.0;
    }
    let r = pcg_hash(pcg_hash(c.seed ^ pcg_hash(step)).wrapping_add((i / c.unit_size) as u32));
    if r >= c.drop_threshold() {
        c.scale()
    } else {
        0.0
    }
}

pub fn dropout_forward(c: &DropoutConfig, step: u32, x: &[f32]) -> Vec<f32> {
    x.iter().enumerate().map(|(i, v)| v * dropout_factor(c, step, i)).collect()
}

pub fn dropout_backward(c: &DropoutConfig, step: u32, dy: &[f32]) -> Vec<f32> {
    dropout_forward(c, step, dy)
}
