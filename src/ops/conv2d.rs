//! 2-D convolution on the GPU (shaders/conv2d.wgsl): forward with bias and optional fused
//! ReLU, gradients w.r.t. input, weights and bias. CPU twin: `reference::conv2d`.

use super::choice::{narrow_tile, wide_tile, Kernel, Pass};
use super::conv2d_winograd as winograd;
use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use super::reduce::{channel_sum, split_sum};
use crate::desc::conv2d::Conv2dShape;
use crate::error::Error;
use crate::gpu::Gpu;

/// The tiled kernels: one module per tile shape of shaders/gemm.wgsl.
const TILED: Shader = Shader {
    name: "conv2d",
    source: concat!(
        wide_tile!(),
        include_str!("../../shaders/conv2d_bindings.wgsl"),
        include_str!("../../shaders/gemm.wgsl"),
        include_str!("../../shaders/conv2d.wgsl")
    ),
};
const TILED_NARROW: Shader = Shader {
    name: "conv2d_narrow",
    source: concat!(
        narrow_tile!(),
        include_str!("../../shaders/conv2d_bindings.wgsl"),
        include_str!("../../shaders/gemm.wgsl"),
        include_str!("../../shaders/conv2d.wgsl")
    ),
};

/// Every candidate's source, for the kernel cache's fingerprint.
pub(crate) const SOURCES: [&str; 4] = [TILED.source, TILED_NARROW.source, DIRECT.source, super::conv2d_winograd::SOURCE];

const DIRECT: Shader = Shader {
    name: "conv2d_direct",
    source: concat!(include_str!("../../shaders/conv2d_bindings.wgsl"), include_str!("../../shaders/conv2d_direct.wgsl")),
};
/// Each direct thread's register block (shaders/conv2d_direct.wgsl): this many channels
/// by POSITION_BLOCK positions along a row (or kernel taps, for the weight gradient).
const CHANNEL_BLOCK: usize = 8;
const POSITION_BLOCK: usize = 4;
/// Threads the direct weight gradient aims for (splitting the positions among them).
const DIRECT_WEIGHT_THREADS: usize = 8192;

impl Conv2dShape {
    /// The uniform block: GEMM sizes (m, n, k, k per split), then the convolution.
    fn params(&self, gemm: Gemm, relu: bool) -> Conv2dParams {
        let u = |v: usize| v as u32;
        Conv2dParams {
            m: u(gemm.m),
            n: u(gemm.n),
            k: u(gemm.k),
            k_chunk: u(gemm.k_chunk),
            batch: u(self.batch),
            in_c: u(self.in_c),
            in_h: u(self.in_h),
            in_w: u(self.in_w),
            out_c: u(self.out_c),
            out_h: u(self.out_h()),
            out_w: u(self.out_w()),
            k_h: u(self.k_h),
            k_w: u(self.k_w),
            stride: u(self.stride),
            pad_h: u(self.pad_h),
            pad_w: u(self.pad_w),
            relu: relu as u32,
            _p0: 0,
            _p1: 0,
            _p2: 0,
        }
    }
}

uniform! {
    /// `Conv2dParams` of shaders/conv2d_bindings.wgsl, shared by the tiled and direct kernels.
    pub struct Conv2dParams {
        m: u32, n: u32, k: u32, k_chunk: u32,
        batch: u32, in_c: u32, in_h: u32, in_w: u32,
        out_c: u32, out_h: u32, out_w: u32, k_h: u32,
        k_w: u32, stride: u32, pad_h: u32, pad_w: u32,
        relu: u32, _p0: u32, _p1: u32, _p2: u32,
    }
}

/// Sizes of one implicit GEMM, its tile, and how its k range is split across workgroups.
#[derive(Clone, Copy, Debug)]
struct Gemm {
    m: usize,
    n: usize,
    k: usize,
    k_chunk: usize,
    /// (BM, BN) of the tile (`Kernel::tile`).
    tile: (usize, usize),
}

/// Depth of a tile's k slices (BK of shaders/gemm.wgsl).
const BK: usize = 16;
/// Split-K aims for at least this many workgroups, so every core of a software
/// adapter (and every SM of a GPU) gets work, with at least this much k per split.
const MIN_WORKGROUPS: usize = 64;
const MIN_K_PER_SPLIT: usize = 256;

impl Gemm {
    /// For the direct kernels, which read no GEMM sizes.
    const NONE: Gemm = Gemm { m: 0, n: 0, k: 0, k_chunk: 0, tile: (1, 1) };

    fn new(kernel: Kernel, m: usize, n: usize, k: usize, allow_split: bool) -> Gemm {
        let tile = kernel.tile();
        let tiles = m.div_ceil(tile.0) * n.div_ceil(tile.1);
        let max_splits = if allow_split { k.div_ceil(MIN_K_PER_SPLIT) } else { 1 };
        let splits = MIN_WORKGROUPS.div_ceil(tiles).clamp(1, max_splits.max(1));
        let k_chunk = k.div_ceil(splits).div_ceil(BK) * BK;
        Gemm { m, n, k, k_chunk, tile }
    }
    fn splits(&self) -> usize {
        self.k.div_ceil(self.k_chunk)
    }
    fn workgroups(&self) -> u64 {
        (self.m.div_ceil(self.tile.0) * self.n.div_ceil(self.tile.1) * self.splits()) as u64
    }
}

/// Every conv entry point reaches all seven bindings (the GEMM core's loaders switch on
/// the pass), so the ones a pass does not use get small placeholder buffers of their own.
fn dispatch(
    gpu: &Gpu,
    kernel: Kernel,
    entry: &'static str,
    params: &Conv2dParams,
    used: &[(u32, &View)],
    workgroups: u64,
) -> Result<Dispatch, Error> {
    let placeholders: Vec<(u32, View)> = (1..=7)
        .filter(|b| used.iter().all(|(u, _)| u != b))
        .map(|b| Ok((b, View::new(gpu, "unused", 1)?)))
        .collect::<Result<_, Error>>()?;
    let mut all: Vec<(u32, &View)> = used.to_vec();
    all.extend(placeholders.iter().map(|(b, v)| (*b, v)));
    let shader = if kernel == Kernel::TiledNarrow { TILED_NARROW } else { TILED };
    Dispatch::new(gpu, shader, entry, params, &all, workgroups)
}

/// The kernel that runs: Winograd computes stride-1 5x5 convolutions' forward and input
/// gradient; the direct kernels stand in for it elsewhere.
fn runs(kernel: Kernel, pass: Pass, s: &Conv2dShape) -> Kernel {
    if kernel == Kernel::Winograd && !kernel.computes(pass, s) {
        return Kernel::Direct;
    }
    kernel
}

/// y = conv(x, w) + b, then ReLU if `relu`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward(
    gpu: &Gpu,
    s: &Conv2dShape,
    x: &View,
    w: &View,
    b: &View,
    y: &View,
    relu: bool,
    kernel: Kernel,
) -> Result<Vec<Dispatch>, Error> {
    s.validate()?;
    x.expect("conv2d input", s.input_len())?;
    w.expect("conv2d weights", s.weight_len())?;
    b.expect("conv2d bias", s.out_c)?;
    y.expect("conv2d output", s.output_len())?;
    let kernel = runs(kernel, Pass::ConvForward, s);
    if kernel == Kernel::Winograd {
        return winograd::forward(gpu, s, x, w, b, y, relu);
    }
    if kernel == Kernel::Direct {
        let threads = s.batch * s.out_c.div_ceil(CHANNEL_BLOCK) * s.out_h() * s.out_w().div_ceil(POSITION_BLOCK);
        return Ok(vec![Dispatch::new(
            gpu,
            DIRECT,
            "conv2d_forward_direct",
            &s.params(Gemm::NONE, relu),
            &[(1, x), (2, w), (3, b), (4, y)],
            groups_for(threads),
        )?]);
    }
    let g = Gemm::new(kernel, s.out_c, s.batch * s.out_h() * s.out_w(), s.weight_len() / s.out_c, false);
    Ok(vec![dispatch(gpu, kernel, "conv2d_forward", &s.params(g, relu), &[(1, x), (2, w), (3, b), (4, y)], g.workgroups())?])
}

/// dx from dy (the gradient of the convolution's output, after any ReLU mask).
pub fn conv2d_backward_input(gpu: &Gpu, s: &Conv2dShape, dy: &View, w: &View, dx: &View, kernel: Kernel) -> Result<Vec<Dispatch>, Error> {
    s.validate()?;
    dy.expect("conv2d output gradient", s.output_len())?;
    w.expect("conv2d weights", s.weight_len())?;
    dx.expect("conv2d input gradient", s.input_len())?;
    let kernel = runs(kernel, Pass::ConvBackwardInput, s);
    if kernel == Kernel::Winograd {
        return winograd::backward_input(gpu, s, dy, w, dx);
    }
    if kernel == Kernel::Direct {
        let threads = s.batch * s.in_c.div_ceil(CHANNEL_BLOCK) * s.in_h * s.in_w.div_ceil(POSITION_BLOCK);
        return Ok(vec![Dispatch::new(
            gpu,
            DIRECT,
            "conv2d_backward_input_direct",
            &s.params(Gemm::NONE, false),
            &[(5, dy), (2, w), (6, dx)],
            groups_for(threads),
        )?]);
    }
    let g = Gemm::new(kernel, s.in_c, s.batch * s.in_h * s.in_w, s.out_c * s.k_h * s.k_w, false);
    Ok(vec![dispatch(gpu, kernel, "conv2d_backward_input", &s.params(g, false), &[(5, dy), (2, w), (6, dx)], g.workgroups())?])
}

/// dw (overwritten, not accumulated) from the input and dy: split-K partial products,
/// then their sum.
pub fn conv2d_backward_weights(gpu: &Gpu, s: &Conv2dShape, x: &View, dy: &View, dw: &View, kernel: Kernel) -> Result<Vec<Dispatch>, Error> {
    s.validate()?;
    x.expect("conv2d input", s.input_len())?;
    dy.expect("conv2d output gradient", s.output_len())?;
    dw.expect("conv2d weight gradient", s.weight_len())?;
    if runs(kernel, Pass::ConvBackwardWeights, s) == Kernel::Direct {
        // Enough (split, block) threads to fill the adapter, at least 64 positions each.
        let positions = s.batch * s.out_h() * s.out_w();
        let per_split = s.out_c.div_ceil(CHANNEL_BLOCK) * s.in_c * (s.k_h * s.k_w).div_ceil(POSITION_BLOCK);
        let splits = DIRECT_WEIGHT_THREADS.div_ceil(per_split).clamp(1, positions.div_ceil(64));
        let chunk = positions.div_ceil(splits);
        let splits = positions.div_ceil(chunk);
        let partial = View::new(gpu, "dw partial sums", splits * s.weight_len())?;
        let g = Gemm { m: splits, n: 0, k: positions, k_chunk: chunk, tile: (1, 1) };
        return Ok(vec![
            Dispatch::new(
                gpu,
                DIRECT,
                "conv2d_backward_weights_direct",
                &s.params(g, false),
                &[(1, x), (5, dy), (7, &partial)],
                groups_for(splits * per_split),
            )?,
            split_sum(gpu, splits, s.weight_len(), &partial, dw)?,
        ]);
    }
    let g = Gemm::new(kernel, s.out_c, s.weight_len() / s.out_c, s.batch * s.out_h() * s.out_w(), true);
    let partial = View::new(gpu, "dw partial sums", g.splits() * s.weight_len())?;
    Ok(vec![
        dispatch(gpu, kernel, "conv2d_backward_weights", &s.params(g, false), &[(1, x), (5, dy), (7, &partial)], g.workgroups())?,
        split_sum(gpu, g.splits(), s.weight_len(), &partial, dw)?,
    ])
}

/// db[c] = sum of dy over batch and space.
pub fn conv2d_backward_bias(gpu: &Gpu, s: &Conv2dShape, dy: &View, db: &View) -> Result<Dispatch, Error> {
    s.validate()?;
    channel_sum(gpu, s.batch, s.out_c, s.out_h() * s.out_w(), dy, db)
}
