//! ReLU on the CPU engine (shaders/relu.wgsl; reference: `reference::relu`).

pub fn relu_forward(x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y = x.max(0.0));
}

/// dx = dy where the forward output was positive.
pub fn relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((dx, y), dy) in dx.iter_mut().zip(y).zip(dy) {
        *dx = if *y > 0.0 { *dy } else { 0.0 };
    }
}
