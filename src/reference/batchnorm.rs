//! Batch normalization on the CPU: the ground truth for shaders/batchnorm.wgsl.

use crate::desc::batchnorm::BatchNormShape;

fn index(s: &BatchNormShape, t: usize, c: usize) -> usize {
    ((t / s.inner) * s.channels + c) * s.inner + t % s.inner
}

/// Per channel: (mean, biased variance) of the batch.
pub fn batch_moments(s: &BatchNormShape, x: &[f32]) -> Vec<(f64, f64)> {
    let m = s.n * s.inner;
    (0..s.channels)
        .map(|c| {
            let mean = (0..m).map(|t| x[index(s, t, c)] as f64).sum::<f64>() / m as f64;
            let var = (0..m).map(|t| (x[index(s, t, c)] as f64 - mean).powi(2)).sum::<f64>() / m as f64;
            (mean, var)
        })
        .collect()
}

/// Returns (y, stats [mean.., invstd..]) and updates `running` [mean.., var..] in training.
pub fn batchnorm_forward(
    s: &BatchNormShape,
    training: bool,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let c = s.channels;
    let moments: Vec<(f64, f64)> = if training {
        let m = batch_moments(s, x);
        for (ch, (mean, var)) in m.iter().enumerate() {
            let k = s.momentum as f64;
            running[ch] = ((1.0 - k) * running[ch] as f64 + k * mean) as f32;
            running[c + ch] = ((1.0 - k) * running[c + ch] as f64 + k * var) as f32;
        }
        m
    } else {
        (0..c).map(|ch| (running[ch] as f64, running[c + ch] as f64)).collect()
    };
    let invstd: Vec<f64> = moments.iter().map(|(_, v)| 1.0 / (v + s.eps as f64).sqrt()).collect();
    let y = (0..s.len())
        .map(|i| {
            let ch = (i / s.inner) % c;
            (gamma[ch] as f64 * (x[i] as f64 - moments[ch].0) * invstd[ch] + beta[ch] as f64) as f32
        })
        .collect();
    let stats = moments.iter().map(|m| m.0 as f32).chain(invstd.iter().map(|v| *v as f32)).collect();
    (y, stats)
}

/// (dx, dgamma, dbeta) in training mode, from the batch statistics of `x`.
pub fn batchnorm_backward(s: &BatchNormShape, x: &[f32], dy: &[f32], gamma: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let moments = batch_moments(s, x);
    let m = (s.n * s.inner) as f64;
    let invstd: Vec<f64> = moments.iter().map(|(_, v)| 1.0 / (v + s.eps as f64).sqrt()).collect();
    let xhat = |i: usize, c: usize| (x[i] as f64 - moments[c].0) * invstd[c];
    let (mut dgamma, mut dbeta) = (vec![0f64; s.channels], vec![0f64; s.channels]);
    for i in 0..s.len() {
        let c = (i / s.inner) % s.channels;
        dgamma[c] += dy[i] as f64 * xhat(i, c);
        dbeta[c] += dy[i] as f64;
    }
    let dx = (0..s.len())
        .map(|i| {
            let c = (i / s.inner) % s.channels;
            (gamma[c] as f64 * invstd[c] / m * (m * dy[i] as f64 - dbeta[c] - xhat(i, c) * dgamma[c])) as f32
        })
        .collect();
    (dx, dgamma.into_iter().map(|v| v as f32).collect(), dbeta.into_iter().map(|v| v as f32).collect())
}

/// dx in eval mode: batch norm on `running` [mean.., var..] is y = gamma * (x - mean) /
/// sqrt(var + eps) + beta per channel, so dx = dy * gamma / sqrt(var + eps).
pub fn batchnorm_backward_eval(s: &BatchNormShape, dy: &[f32], gamma: &[f32], running: &[f32]) -> Vec<f32> {
    (0..s.len())
        .map(|i| {
            let c = (i / s.inner) % s.channels;
            (dy[i] as f64 * gamma[c] as f64 / (running[s.channels + c] as f64 + s.eps as f64).sqrt()) as f32
        })
        .collect()
}
