//! Per-channel sums (shaders/reduce.wgsl): bias gradients. CPU twin: `reference::reduce`.

use super::kernel::{groups_for, Dispatch, Shader, View};
use crate::error::Error;
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "reduce", source: include_str!("../../shaders/reduce.wgsl") };

/// sums[c] = sum over o, j of x[o, c, j], x viewed as [outer, channels, inner].
pub fn channel_sum(gpu: &Gpu, outer: usize, channels: usize, inner: usize, x: &View, sums: &View) -> Result<Dispatch, Error> {
    x.expect("channel_sum input", outer * channels * inner)?;
    sums.expect("channel_sum output", channels)?;
    let params = [outer as u32, channels as u32, inner as u32, 0];
    Dispatch::new(gpu, SHADER, "channel_sum", &params, &[(1, x), (2, sums)], channels as u64)
}

/// sums[i] = sum over s of x[s, i], x viewed as [parts, len].
pub fn split_sum(gpu: &Gpu, parts: usize, len: usize, x: &View, sums: &View) -> Result<Dispatch, Error> {
    x.expect("split_sum input", parts * len)?;
    sums.expect("split_sum output", len)?;
    Dispatch::new(gpu, SHADER, "split_sum", &[parts as u32, len as u32, 1, 0], &[(1, x), (2, sums)], groups_for(len))
}
