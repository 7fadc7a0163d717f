//! ReLU on the CPU: the ground truth for shaders/relu.wgsl.

pub fn relu_forward(x: &[f32]) -> Vec<f32> {
    x.iter().map(|v| v.max(0.0)).collect()
}

pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.iter().zip(dy).map(|(y, d)| if *y > 0.0 { *d } else { 0.0 }).collect()
}
