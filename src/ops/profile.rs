//! Timing on the GPU: each dispatch of a graph alone, and the adapter's f32 peak.

use super::kernel::{groups_for, run, time_ms, uniform, Dispatch, Shader, View};
use crate::clock::{median, now_ms};
use crate::error::Error;
use crate::gpu::Gpu;

/// Per-kernel time of a graph's dispatches (`Graph::train_step_dispatches`, or
/// `predict_dispatches`): each dispatch run alone, `reps` times in one submit, median of
/// 3 such runs, in ms. They add up to more than a whole step (no overlap between
/// dispatches, one submit each).
pub async fn kernel_profile(gpu: &Gpu, dispatches: &[&Dispatch], reps: usize) -> Result<Vec<(&'static str, f64)>, Error> {
    let mut rows = Vec::new();
    for &d in dispatches {
        let mut times = Vec::new();
        for _ in 0..3 {
            times.push(time_ms(gpu, &[d], reps).await?);
        }
        rows.push((d.label, median(times)));
    }
    Ok(rows)
}

const PEAK: Shader = Shader { name: "peak", source: include_str!("../../shaders/peak.wgsl") };

uniform! {
    /// `PeakParams` of shaders/peak.wgsl.
    pub struct PeakParams { iterations: u32, threads: u32, _p0: u32, _p1: u32 }
}

/// The adapter's measured f32 arithmetic peak in GFLOP/s (shaders/peak.wgsl): median of
/// 3 runs of a dispatch with no memory traffic in its loop.
pub async fn peak_gflops(gpu: &Gpu) -> Result<f64, Error> {
    let (threads, iterations) = (16_384u32, 2_048u32);
    let sink = View::new(gpu, "sink", 4)?;
    let d = Dispatch::new(
        gpu,
        PEAK,
        "peak_fma",
        &PeakParams { iterations, threads, _p0: 0, _p1: 0 },
        &[(1, &sink)],
        groups_for(threads as usize),
    )?;
    run(gpu, &[&d]);
    gpu.finish().await?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = now_ms();
        run(gpu, &[&d]);
        gpu.finish().await?;
        times.push(now_ms() - t);
    }
    let flops = threads as f64 * iterations as f64 * 8.0 * 4.0 * 2.0;
    Ok(flops / (median(times) / 1000.0) / 1e9)
}
