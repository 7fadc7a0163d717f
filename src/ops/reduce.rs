//! Per-channel sums (shaders/reduce.wgsl): bias gradients. CPU twin: `reference::reduce`.

use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use crate::error::Error;
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "reduce", source: include_str!("../../shaders/reduce.wgsl") };

uniform! {
    /// `ReduceParams` of shaders/reduce.wgsl; split_sum reads outer = number of partial
    /// results, channels = length of each.
    pub struct ReduceParams { outer: u32, channels: u32, inner: u32, _p0: u32 }
}

/// sums[c] = sum over o, j of x[o, c, j], x viewed as [outer, channels, inner].
pub fn channel_sum(gpu: &Gpu, outer: usize, channels: usize, inner: usize, x: &View, sums: &View) -> Result<Dispatch, Error> {
    x.expect("channel_sum input", outer * channels * inner)?;
    sums.expect("channel_sum output", channels)?;
    let params = ReduceParams { outer: outer as u32, channels: channels as u32, inner: inner as u32, _p0: 0 };
    Dispatch::new(gpu, SHADER, "channel_sum", &params, &[(1, x), (2, sums)], channels as u64)
}

/// sums[i] = sum over s of x[s, i], x viewed as [parts, len].
pub fn split_sum(gpu: &Gpu, parts: usize, len: usize, x: &View, sums: &View) -> Result<Dispatch, Error> {
    x.expect("split_sum input", parts * len)?;
    sums.expect("split_sum output", len)?;
    let params = ReduceParams { outer: parts as u32, channels: len as u32, inner: 1, _p0: 0 };
    Dispatch::new(gpu, SHADER, "split_sum", &params, &[(1, x), (2, sums)], groups_for(len))
}
