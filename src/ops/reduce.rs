//! Per-channel sums (shaders/reduce.wgsl): bias gradients. CPU twin: `reference::reduce`.

use super::kernel::{Dispatch, Shader, View};
use crate::error::Error;
use crate::gpu::Gpu;

const SHADER: Shader = Shader {
    name: "reduce",
    source: include_str!("../../shaders/reduce.wgsl"),
};

/// sums[c] = sum over o, j of x[o, c, j], x viewed as [outer, channels, inner].
pub fn channel_sum(
    gpu: &Gpu,
    outer: usize,
    channels: usize,
    inner: usize,
    x: &View,
    sums: &View,
) -> Result<Dispatch, Error> {
    x.expect("channel_sum input", outer * channels * inner)?;
    sums.expect("channel_sum output", channels)?;
    let params = [outer as u32, channels as u32, inner as u32, 0];
    Dispatch::new(
        gpu,
        SHADER,
        "channel_sum",
        &params,
        &[(1, x), (2, sums)],
        channels as u64,
    )
}
