//! Input normalization on the CPU: the ground truth for shaders/normalize.wgsl.

pub fn normalize_forward(mean: f32, std: f32, x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| ((v as f64 - mean as f64) / std as f64) as f32).collect()
}

pub fn normalize_backward(std: f32, dy: &[f32]) -> Vec<f32> {
    dy.iter().map(|&d| (d as f64 / std as f64) as f32).collect()
}
