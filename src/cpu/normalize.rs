//! Input normalization on the CPU engine (shaders/normalize.wgsl; reference:
//! `reference::normalize`): subtract, then divide, in f32 like the kernel.

pub fn normalize_forward(mean: f32, std: f32, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y = (x - mean) / std);
}

pub fn normalize_backward(std: f32, dy: &[f32], dx: &mut [f32]) {
    dx.iter_mut().zip(dy).for_each(|(dx, dy)| *dx = dy / std);
}
