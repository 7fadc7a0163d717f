//! Batch normalization on the CPU engine (shaders/batchnorm.wgsl; reference:
//! `reference::batchnorm`) over a tensor viewed as [n, channels, inner]. The per-channel
//! sums are taken in f64: they are a sliver of the step's time and keep the two-pass
//! variance exact enough for rows of zeros (keras-bn-rows, where 1/sqrt(eps) = 1000).

use crate::desc::batchnorm::BatchNormShape;

/// Visits channel `c`'s elements as contiguous runs of `inner`.
fn runs<'a>(s: &'a BatchNormShape, v: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
    (0..s.n).map(move |n| &v[(n * s.channels + c) * s.inner..][..s.inner])
}

/// Training: batch statistics into `stats` [mean.., invstd..], running statistics
/// [mean.., var..] moved toward them by `momentum`, then y. Eval: y from `running`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(
    s: &BatchNormShape,
    training: bool,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    stats: &mut [f32],
    running: &mut [f32],
    y: &mut [f32],
) {
    let ch = s.channels;
    let count = (s.n * s.inner) as f64;
    let mut scale_shift = vec![(0f32, 0f32); ch];
    for c in 0..ch {
        let (mean, invstd) = if training {
            let mean = runs(s, x, c).flatten().map(|&v| v as f64).sum::<f64>() / count;
            let var = runs(s, x, c).flatten().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / count;
            let k = s.momentum;
            running[c] = running[c] * (1.0 - k) + mean as f32 * k;
            running[ch + c] = running[ch + c] * (1.0 - k) + var as f32 * k;
            let invstd = (1.0 / (var + s.eps as f64).sqrt()) as f32;
            (stats[c], stats[ch + c]) = (mean as f32, invstd);
            (mean as f32, invstd)
        } else {
            (running[c], 1.0 / (running[ch + c] + s.eps).sqrt())
        };
        scale_shift[c] = (gamma[c] * invstd, beta[c] - gamma[c] * invstd * mean);
    }
    for (i, (ys, xs)) in y.chunks_mut(s.inner).zip(x.chunks(s.inner)).enumerate() {
        let (a, b) = scale_shift[i % ch];
        ys.iter_mut().zip(xs).for_each(|(y, x)| *y = a * x + b);
    }
}

/// dx, dgamma, dbeta in training mode, from the forward pass's batch `stats`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    s: &BatchNormShape,
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    stats: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dx: &mut [f32],
) {
    let ch = s.channels;
    let m = (s.n * s.inner) as f32;
    for c in 0..ch {
        let (mean, invstd) = (stats[c], stats[ch + c]);
        let (mut sg, mut sb) = (0f64, 0f64);
        for (xs, ds) in runs(s, x, c).zip(runs(s, dy, c)) {
            for (&x, &d) in xs.iter().zip(ds) {
                sg += (d * (x - mean) * invstd) as f64;
                sb += d as f64;
            }
        }
        (dgamma[c], dbeta[c]) = (sg as f32, sb as f32);
    }
    for (i, ((dxs, xs), ds)) in dx.chunks_mut(s.inner).zip(x.chunks(s.inner)).zip(dy.chunks(s.inner)).enumerate() {
        let c = i % ch;
        let (mean, invstd, k) = (stats[c], stats[ch + c], gamma[c] * stats[ch + c] / m);
        for ((dx, &x), &d) in dxs.iter_mut().zip(xs).zip(ds) {
            *dx = k * (m * d - dbeta[c] - (x - mean) * invstd * dgamma[c]);
        }
    }
}

/// dx in eval mode, from the running statistics [mean.., var..]: dy scaled per channel.
pub fn batchnorm_backward_eval(s: &BatchNormShape, dy: &[f32], gamma: &[f32], running: &[f32], dx: &mut [f32]) {
    let ch = s.channels;
    for (i, (dxs, ds)) in dx.chunks_mut(s.inner).zip(dy.chunks(s.inner)).enumerate() {
        let c = i % ch;
        let k = gamma[c] / (running[ch + c] + s.eps).sqrt();
        dxs.iter_mut().zip(ds).for_each(|(dx, &d)| *dx = k * d);
    }
}
