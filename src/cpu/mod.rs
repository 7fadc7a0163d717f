//! The CPU engine: every op of `crate::ops` again, in f32 on the CPU, fast by
//! construction (convolutions and dense layers as packed SIMD GEMMs, shards of the batch
//! spread over all cores), for browsers without a hardware WebGPU adapter and machines
//! without a GPU. Each function has the name of its GPU op and its reference twin, takes
//! slices where the GPU op takes views, and writes every element of its outputs (so the
//! engine suite can poison them with NaN first).

// One module per file of this folder: a new op needs no line here (automod).
automod::dir!(pub "src/cpu");

use crate::error::{shape_err, Error};

/// The length check every GPU op makes of its views, with the same message.
pub(crate) fn expect_len(what: &str, len: usize, expected: usize) -> Result<(), Error> {
    if len != expected {
        return Err(shape_err!("{what} has {len} elements, expected {expected}"));
    }
    Ok(())
}

/// max(v, 0) as a compare and a select, which vectorizes everywhere: `f32::max` lowers to
/// a call of libm's `fmaxf` per element in wasm32 (wasm's `f32.max` treats NaN otherwise),
/// and ReLU over fast's first layer took 5.8 ms a step in Chromium that way. NaN gives 0,
/// as `f32::max(NaN, 0.0)` does.
#[inline(always)]
pub fn relu(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// `v` where `keep`, else +0.0, without a branch: a ReLU's mask is a coin toss per
/// element, and the branch it compiled to mispredicted about half the time.
#[inline(always)]
pub fn keep_if(v: f32, keep: bool) -> f32 {
    f32::from_bits(v.to_bits() & (keep as u32).wrapping_neg())
}

/// A sum in eight interleaved partial sums, which the compiler turns into SIMD adds (a
/// plain fold is a serial chain of dependent adds).
pub fn sum(v: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        lanes.iter_mut().zip(c).for_each(|(l, x)| *l += x);
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}
