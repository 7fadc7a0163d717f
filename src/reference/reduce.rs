//! Per-channel sums on the CPU: the ground truth for shaders/reduce.wgsl.

pub fn channel_sum(outer: usize, channels: usize, inner: usize, x: &[f32]) -> Vec<f32> {
    (0..channels)
        .map(|c| {
            let mut s = 0f64;
            for o in 0..outer {
                for j in 0..inner {
                    s += x[(o * channels + c) * inner + j] as f64;
                }
            }
            s as f32
        })
        .collect()
}
