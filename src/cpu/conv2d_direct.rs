//! Direct stride-1 convolutions on the CPU engine, with no im2col: the second algorithm
//! of `cpu::conv2d` (same ops, same reference, same suite case, which runs both).
//!
//! Each image is copied once into a zero-padded buffer, `in_c` planes of `hp x wp`. An
//! output position is then a flat index `q = oy * wp + ox` over rows of the *padded*
//! width, and the input under tap (c, ky, kx) is `xp[c * hp * wp + ky * wp + kx + q]`:
//! contiguous in q for every tap. So a register tile of MR output channels x NR flat
//! positions accumulates, per tap, one broadcast weight per channel times NR contiguous
//! inputs, read straight from the (L1-resident) padded image; the `wp - ow` positions
//! past each row's end are computed and dropped (14 of every 18 kept on pytorch-cnn's
//! conv2). Measured against im2col + rten-gemm, one core, pytorch-cnn conv2 forward at
//! batch 64: 8.8 -> 3.5 ms (docs/benchmarks.md, "Direct and Winograd convolutions").
//!
//! - forward: the tile above, plus bias (and ReLU) as it is stored.
//! - input gradient: the forward of dY, padded by `k - 1 - pad`, with the weights flipped
//!   and their channels swapped (a stride-1 convolution's adjoint is one).
//! - weight gradient: dW[o][tap] = sum over images and q of dY[o][q] * xp[tap + q], with
//!   dY laid out on the same padded-width grid (zero past each row's end); a tile of MR
//!   channels x TR taps sums a group of images in registers, then folds them into
//!   4-lane partial sums, reduced once per call. Its buffers start on 64-byte lines: on
//!   malloc's 16-byte alignment, pytorch-cnn's conv2 weight gradient took 4.7-7.0 ms
//!   (one core, batch 64) from call to call; aligned, with groups, 3.9-4.3.

use super::maxpool::{pool_planes, PoolGrad};
use super::par::{for_shards_mut, for_shards_mut2, for_shards_mut3, map_shards, sum_over_batch};
use super::simd::{Isa, Lanes};
use crate::desc::conv2d::Conv2dShape;
use crate::desc::maxpool::PoolShape;
use std::ops::Range;

/// Whether these kernels compute this shape: stride 1, and padding under the kernel size
/// (so the input gradient is a convolution with non-negative padding).
pub fn supports(s: &Conv2dShape) -> bool {
    s.stride == 1 && s.pad_h < s.k_h && s.pad_w < s.k_w
}

/// The padded-width grid of one shape.
struct Grid {
    /// Padded plane: `hp` rows of `wp`.
    hp: usize,
    wp: usize,
    oh: usize,
    ow: usize,
    /// Flat offset of each tap (c, ky, kx) in the padded image, in weight order.
    taps: Vec<usize>,
    /// Flat output positions computed per image: `oh * wp`.
    q: usize,
}

impl Grid {
    fn new(s: &Conv2dShape) -> Grid {
        let (hp, wp) = (s.in_h + 2 * s.pad_h, s.in_w + 2 * s.pad_w);
        let mut taps = Vec::with_capacity(s.in_c * s.k_h * s.k_w);
        for c in 0..s.in_c {
            for ky in 0..s.k_h {
                for kx in 0..s.k_w {
                    taps.push(c * hp * wp + ky * wp + kx);
                }
            }
        }
        Grid { hp, wp, oh: s.out_h(), ow: s.out_w(), taps, q: s.out_h() * wp }
    }

    /// A zeroed buffer for one padded image that reads of `span` positions from any tap
    /// stay inside.
    fn padded_buffer(&self, s: &Conv2dShape, span: usize) -> Vec<f32> {
        let last = self.taps.iter().max().copied().unwrap_or(0);
        vec![0f32; (last + span).max(s.in_c * self.hp * self.wp)]
    }

    /// Copies one image into the padded buffer's interior (the border stays zero).
    fn pad_into(&self, s: &Conv2dShape, x: &[f32], xp: &mut [f32]) {
        for (c, plane) in x.chunks(s.in_h * s.in_w).enumerate() {
            for (iy, line) in plane.chunks(s.in_w).enumerate() {
                let at = c * self.hp * self.wp + (iy + s.pad_h) * self.wp + s.pad_w;
                xp[at..at + s.in_w].copy_from_slice(line);
            }
        }
    }
}

/// One forward register tile: MR channels x NV vectors of positions, vector v starting
/// at `x[v]`, over every tap; `w` holds the tile's weights tap-major (MR per tap). Stores
/// vector v's sums at `out[v]`, rows `stride` apart.
#[inline(always)]
pub(super) unsafe fn forward_tile<L: Lanes, const MR: usize, const NV: usize>(
    x: [*const f32; NV],
    taps: &[usize],
    w: *const f32,
    out: [*mut f32; NV],
    stride: usize,
) {
    let mut acc = [[L::zero(); NV]; MR];
    let mut w = w;
    for &tap in taps {
        let mut xv = [L::zero(); NV];
        for (v, xv) in xv.iter_mut().enumerate() {
            *xv = L::load(x[v].add(tap));
        }
        for (i, acc) in acc.iter_mut().enumerate() {
            let wi = L::splat(*w.add(i));
            for v in 0..NV {
                acc[v] = L::madd(wi, xv[v], acc[v]);
            }
        }
        w = w.add(MR);
    }
    for (i, acc) in acc.iter().enumerate() {
        for (v, a) in acc.iter().enumerate() {
            L::store(out[v].add(i * stride), *a);
        }
    }
}

/// `NV` pointers to consecutive vectors of `n` lanes from `p`.
#[inline(always)]
pub(super) unsafe fn consecutive<T, const NV: usize>(p: *const T, n: usize) -> [*const T; NV] {
    std::array::from_fn(|v| p.add(v * n))
}

/// Where the vectors of `n` lanes over one output plane start on the padded-width grid,
/// in increasing order, a multiple of `nv` of them. Either the grid's rows end to end
/// (`oh * wp` positions, the `wp - ow` past each row's end computed and dropped) or each
/// output row on its own (`ow` rounded up to whole vectors), whichever computes fewer:
/// pytorch-cnn's conv2, 14 wide on rows of 18, computes 256 positions end to end and
/// 224 row by row (16 lanes, 2 vectors a tile). Padding vectors start past the last row.
fn vector_starts(g: &Grid, n: usize, nv: usize) -> Vec<usize> {
    let per_row = g.ow.div_ceil(n);
    let end_to_end = g.q.div_ceil(n * nv) * nv;
    let mut starts: Vec<usize> = if (g.oh * per_row).div_ceil(nv) * nv < end_to_end && per_row * n <= g.wp {
        (0..g.oh).flat_map(|oy| (0..per_row).map(move |j| oy * g.wp + j * n)).collect()
    } else {
        (0..end_to_end).map(|v| v * n).collect()
    };
    let mut past = g.q.next_multiple_of(n);
    while !starts.len().is_multiple_of(nv) {
        starts.push(past);
        past += n;
    }
    starts
}

/// Weights [out_c][K] regrouped as blocks of MR channels, tap-major within a block
/// (channels past out_c are zero).
fn pack_weights(w: &[f32], out_c: usize, k: usize, mr: usize) -> Vec<f32> {
    let mut packed = vec![0f32; out_c.div_ceil(mr) * k * mr];
    for (o, row) in w.chunks(k).take(out_c).enumerate() {
        for (r, &v) in row.iter().enumerate() {
            packed[(o / mr) * k * mr + r * mr + o % mr] = v;
        }
    }
    packed
}

/// The forward of the images `images` (y holds just theirs), with packed weights.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn forward_images<L: Lanes, const MR: usize, const NV: usize>(
    s: &Conv2dShape,
    x: &[f32],
    packed: &[f32],
    b: Option<&[f32]>,
    relu: bool,
    images: Range<usize>,
    y: &mut [f32],
    mut pool: Pooled,
) {
    let g = Grid::new(s);
    let (k, p, in_len) = (g.taps.len(), g.oh * g.ow, s.in_c * s.in_h * s.in_w);
    let starts = vector_starts(&g, L::N, NV);
    let width = starts.last().map_or(0, |&v| v + L::N).max(g.q);
    let mut xp = g.padded_buffer(s, width);
    let mut sums = vec![0f32; MR * width];
    // An empty y with a pool: the output is not kept, only pooled (see `forward`).
    let mut scratch = if y.is_empty() { vec![0f32; s.out_c * p] } else { Vec::new() };
    for (j, n) in images.enumerate() {
        g.pad_into(s, &x[n * in_len..][..in_len], &mut xp);
        let y = if y.is_empty() { &mut scratch[..] } else { &mut y[j * s.out_c * p..][..s.out_c * p] };
        for (block, w) in packed.chunks(k * MR).enumerate() {
            for tile in starts.chunks(NV) {
                let xs = std::array::from_fn(|v| xp.as_ptr().add(tile[v]));
                let outs = std::array::from_fn(|v| sums.as_mut_ptr().add(tile[v]));
                forward_tile::<L, MR, NV>(xs, &g.taps, w.as_ptr(), outs, width);
            }
            for (i, row) in sums.chunks(width).enumerate() {
                let o = block * MR + i;
                if o >= s.out_c {
                    break;
                }
                let bias = b.map_or(0.0, |b| b[o]);
                for oy in 0..g.oh {
                    let src = &row[oy * g.wp..][..g.ow];
                    let dst = &mut y[o * p + oy * g.ow..][..g.ow];
                    if relu {
                        dst.iter_mut().zip(src).for_each(|(d, v)| *d = super::relu(v + bias));
                    } else {
                        dst.iter_mut().zip(src).for_each(|(d, v)| *d = v + bias);
                    }
                }
            }
        }
        if let Some((pooled, argmax)) = pool.as_mut() {
            let ps = PoolShape { planes: s.out_c, in_h: g.oh, in_w: g.ow };
            let m = ps.output_len();
            pool_planes(&ps, y, n * s.out_c, &mut pooled[j * m..][..m], &mut argmax[j * m..][..m]);
        }
    }
}

/// A 2x2 max-pool of the forward's output and its argmax, for the images of a shard:
/// pooled as each image is done, while its output is in cache (fast's first layer,
/// batch 256, 2 threads: the pool as a pass of its own read 14 MB back and took
/// 2.3 ms).
pub type Pooled<'a> = Option<(&'a mut [f32], &'a mut [u32])>;

/// One weight-gradient register tile: MR channels of dY (rows `dy_stride` apart) x TR
/// taps of the padded image, over the vectors at `starts` of each of `images` images
/// (`dy_image` and `x_image` apart; dY holds the vectors one after another); adds the sums, folded to FOLD lanes, into `acc_out`
/// (MR x TR of them, tap-minor, rows `out_stride` apart).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weights_tile<L: Lanes, const MR: usize, const TR: usize>(
    dy: *const f32,
    dy_stride: usize,
    x: *const f32,
    taps: &[usize],
    starts: &[usize],
    images: usize,
    (dy_image, x_image): (usize, usize),
    acc_out: *mut f32,
    out_stride: usize,
) {
    let mut acc = [[L::zero(); TR]; MR];
    for image in 0..images {
        let (dy, x) = (dy.add(image * dy_image), x.add(image * x_image));
        let mut at = [x; TR];
        for (t, at) in at.iter_mut().enumerate() {
            *at = x.add(taps[t]);
        }
        for (vi, &q) in starts.iter().enumerate() {
            let mut dv = [L::zero(); MR];
            for (i, dv) in dv.iter_mut().enumerate() {
                *dv = L::load(dy.add(i * dy_stride + vi * L::N));
            }
            for t in 0..TR {
                let xv = L::load(at[t].add(q));
                for i in 0..MR {
                    acc[i][t] = L::madd(dv[i], xv, acc[i][t]);
                }
            }
        }
    }
    // Each register's lanes folded to FOLD, added in a fixed order.
    let mut lanes = [0f32; 16];
    for (i, acc) in acc.iter().enumerate() {
        for (t, a) in acc.iter().enumerate() {
            L::store(lanes.as_mut_ptr(), *a);
            let p = acc_out.add((i * out_stride + t) * FOLD);
            for (l, v) in lanes[..L::N].iter().enumerate() {
                *p.add(l % FOLD) += v;
            }
        }
    }
}

/// Lanes the weight gradient's partial sums keep between groups (the narrowest ISA's).
const FOLD: usize = 4;

/// Images whose padded copies a weight-gradient tile sums before it adds its registers
/// into the per-lane partial sums: those are `out_c x K x lanes` floats (823 KiB on
/// pytorch-cnn's conv2 with AVX-512), too many to update after every image.
const GROUP: usize = 8;

/// dW [rows][K] summed over the images `images`, for the output channels `rows` (its start
/// a multiple of MR): each channel's sum runs in the same order whatever rows it shares a
/// call with.
#[inline(always)]
unsafe fn weights_images<L: Lanes, const MR: usize, const TR: usize>(
    s: &Conv2dShape,
    x: &[f32],
    dy: Dy,
    images: Range<usize>,
    rows: Range<usize>,
) -> Vec<f32> {
    let g = Grid::new(s);
    let (k, p, in_len) = (g.taps.len(), g.oh * g.ow, s.in_c * s.in_h * s.in_w);
    let starts = vector_starts(&g, L::N, 1);
    // dY's rows hold the vectors one after another (so its loads are aligned), zero
    // where a lane is past a row's end: output row oy starts at lane `row_at[oy]`.
    let len = starts.len() * L::N;
    let span = starts.last().map_or(0, |&v| v + L::N).max(g.q);
    let row_at: Vec<usize> = (0..g.oh)
        .map(|oy| {
            let at = oy * g.wp;
            let vi = starts.partition_point(|&v| v + L::N <= at);
            vi * L::N + at - starts[vi]
        })
        .collect();
    // Taps padded to whole tiles with a harmless offset; their sums are dropped.
    let kp = k.div_ceil(TR) * TR;
    let mut taps = g.taps.clone();
    taps.resize(kp, 0);
    let ocp = rows.len().div_ceil(MR) * MR;
    // Where dY's flat position oy * ow + ox lies in its row of vectors (for unpooling).
    let unpooled_at: Vec<u32> = match dy {
        Dy::Pooled(_) => (0..p).map(|i| (row_at[i / g.ow] + i % g.ow) as u32).collect(),
        Dy::Planes(_) => Vec::new(),
    };
    let x_image = g.padded_buffer(s, span).len().next_multiple_of(L::N);
    let mut xp_buf = vec![0f32; GROUP * x_image + 16];
    let xp = aligned(&mut xp_buf, GROUP * x_image);
    let mut dyq_buf = vec![0f32; GROUP * ocp * len + 16];
    let dyq = aligned(&mut dyq_buf, GROUP * ocp * len);
    let mut vsums = vec![0f32; ocp * kp * FOLD];
    for lead in images.clone().step_by(GROUP) {
        let group = GROUP.min(images.end - lead);
        for j in 0..group {
            let n = lead + j;
            g.pad_into(s, &x[n * in_len..][..in_len], &mut xp[j * x_image..][..x_image]);
            for o in 0..rows.len() {
                let (plane, dst) = (n * s.out_c + rows.start + o, &mut dyq[(j * ocp + o) * len..][..len]);
                match dy {
                    Dy::Planes(dy) => {
                        for (oy, line) in dy[plane * p..][..p].chunks(g.ow).enumerate() {
                            dst[row_at[oy]..][..g.ow].copy_from_slice(line);
                        }
                    }
                    // The pool's backward (`cpu::maxpool::backward`) into this image's rows.
                    Dy::Pooled(pooled) => {
                        dst.fill(0.0);
                        let m = pooled.dy.len() / (s.batch * s.out_c);
                        pooled.each(plane * m..(plane + 1) * m, |a, v| dst[unpooled_at[a as usize - plane * p] as usize] += v);
                    }
                }
            }
        }
        for ob in (0..ocp).step_by(MR) {
            for tb in (0..kp).step_by(TR) {
                let out = vsums.as_mut_ptr().add((ob * kp + tb) * FOLD);
                let dy = dyq.as_ptr().add(ob * len);
                weights_tile::<L, MR, TR>(dy, len, xp.as_ptr(), &taps[tb..tb + TR], &starts, group, (ocp * len, x_image), out, kp);
            }
        }
    }
    let mut dw = vec![0f32; rows.len() * k];
    for (o, row) in dw.chunks_mut(k).enumerate() {
        for (r, v) in row.iter_mut().enumerate() {
            *v = vsums[(o * kp + r) * FOLD..][..FOLD].iter().sum();
        }
    }
    dw
}

/// dY of a weight gradient: the convolution's output gradient, or the gradient of a 2x2
/// max-pool of that output, whose unpooled planes are then built image by image in the
/// kernel's buffer, never whole (fast's first layer, batch 256: 14 MB, 75% zeros, which
/// the pool's backward wrote and the weight gradient read back).
#[derive(Clone, Copy)]
pub enum Dy<'a> {
    Planes(&'a [f32]),
    Pooled(PoolGrad<'a>),
}

/// The `len` floats of `buf` (16 longer) that start on a 64-byte boundary: a vector
/// load that straddles two cache lines costs two.
fn aligned(buf: &mut [f32], len: usize) -> &mut [f32] {
    let skip = buf.as_ptr().align_offset(64);
    &mut buf[skip..skip + len]
}

/// Instantiates the two image loops for one ISA inside a function that enables its
/// features, with the tile sizes measured best for it.
macro_rules! isa_kernels {
    ($forward:ident, $weights:ident, $lanes:ty, $features:literal, fwd $mr:literal x $nv:literal, dw $wlanes:ty, $wmr:literal x $tr:literal) => {
        #[cfg_attr(not(target_arch = "wasm32"), target_feature(enable = $features))]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $forward(s: &Conv2dShape, x: &[f32], packed: &[f32], b: Option<&[f32]>, relu: bool, images: Range<usize>, y: &mut [f32], pool: Pooled) {
            forward_images::<$lanes, $mr, $nv>(s, x, packed, b, relu, images, y, pool)
        }
        #[cfg_attr(not(target_arch = "wasm32"), target_feature(enable = $features))]
        unsafe fn $weights(s: &Conv2dShape, x: &[f32], dy: Dy, images: Range<usize>, rows: Range<usize>) -> Vec<f32> {
            weights_images::<$wlanes, $wmr, $tr>(s, x, dy, images, rows)
        }
    };
}

// AVX-512: 8 x 32 forward tiles (16 of 32 registers), 4 x 6 weight tiles (24).
#[cfg(target_arch = "x86_64")]
isa_kernels!(forward_avx512, weights_avx512, super::simd::Avx512, "avx512f,avx512vl,avx2,fma", fwd 8 x 2, dw super::simd::Avx512, 4 x 6);
// AVX2: 16 registers: 6 x 16 forward (12 accumulators), 4 x 3 weight tiles.
#[cfg(target_arch = "x86_64")]
isa_kernels!(forward_avx2, weights_avx2, super::simd::Avx2, "avx2,fma", fwd 6 x 2, dw super::simd::Avx2, 3 x 4);
// simd128 (V8 maps it onto 16 xmm registers; no FMA, so a temporary per multiply-add).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
isa_kernels!(forward_simd128, weights_simd128, super::simd::Simd128, "simd128", fwd 4 x 2, dw super::simd::Simd128, 4 x 3);

/// Forward tile rows (output channels per tile) for an ISA.
fn forward_rows(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 8,
        Isa::Avx2 => 6,
        Isa::Simd128 => 4,
    }
}

#[allow(clippy::too_many_arguments)]
fn forward_shard(isa: Isa, s: &Conv2dShape, x: &[f32], packed: &[f32], b: Option<&[f32]>, relu: bool, images: Range<usize>, y: &mut [f32], pool: Pooled) {
    // SAFETY: `isa` came from `Isa::available()` (checked by the callers), and every
    // pointer the tiles read is inside buffers sized by `Grid::padded_buffer`.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => forward_avx512(s, x, packed, b, relu, images, y, pool),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => forward_avx2(s, x, packed, b, relu, images, y, pool),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => forward_simd128(s, x, packed, b, relu, images, y, pool),
            #[allow(unreachable_patterns)]
            _ => unreachable!("{} kernels are not built for this target", isa.name()),
        }
    }
}

/// Weight-gradient tile rows (output channels per tile) for an ISA.
fn weight_rows(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 4,
        Isa::Avx2 => 3,
        Isa::Simd128 => 4,
    }
}

/// dW of `images`, its output channels' tile rows spread over the threads. A leaf of the
/// batch's sum (`par::sum_over_batch`) is one pass over its images, and a batch of 64 is one
/// leaf: split by images it ran on one thread (pytorch-cnn's conv2 backward, batch 64, 2
/// threads: 11.99 ms a step, against 13.60 on one). Split by channels, each weight's sum
/// keeps its order, so the result does not depend on the threads.
fn weights_shard(isa: Isa, s: &Conv2dShape, x: &[f32], dy: Dy, images: Range<usize>) -> Vec<f32> {
    let mr = weight_rows(isa);
    let parts = map_shards(s.out_c.div_ceil(mr), |b| weights_rows(isa, s, x, dy, images.clone(), b.start * mr..(b.end * mr).min(s.out_c)));
    parts.concat()
}

fn weights_rows(isa: Isa, s: &Conv2dShape, x: &[f32], dy: Dy, images: Range<usize>, rows: Range<usize>) -> Vec<f32> {
    // SAFETY: as in `forward_shard`.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => weights_avx512(s, x, dy, images, rows),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => weights_avx2(s, x, dy, images, rows),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => weights_simd128(s, x, dy, images, rows),
            #[allow(unreachable_patterns)]
            _ => unreachable!("{} kernels are not built for this target", isa.name()),
        }
    }
}

fn check(isa: Isa, s: &Conv2dShape) {
    assert!(supports(s), "direct convolution of an unsupported shape (stride {}, pad {}x{})", s.stride, s.pad_h, s.pad_w);
    assert!(Isa::available().contains(&isa), "{} is not available on this CPU", isa.name());
}

/// y = conv(x, w) + b (then ReLU), and y's 2x2 max-pool where asked; lengths checked by
/// the caller. With a pool, an empty y asks for the pooled output alone: each image's
/// output then lives only in a scratch buffer while it is pooled.
#[allow(clippy::too_many_arguments)]
pub fn forward(isa: Isa, s: &Conv2dShape, x: &[f32], w: &[f32], b: Option<&[f32]>, relu: bool, y: &mut [f32], pool: Pooled) {
    check(isa, s);
    let k = s.in_c * s.k_h * s.k_w;
    let packed = pack_weights(w, s.out_c, k, forward_rows(isa));
    let item = s.out_c * s.out_h() * s.out_w();
    let y = if y.is_empty() { y } else { &mut y[..s.batch * item] };
    match pool {
        None => for_shards_mut(y, item, |images, y| forward_shard(isa, s, x, &packed, b, relu, images, y, None)),
        Some((pooled, argmax)) if y.is_empty() => {
            let m = s.out_c * (s.out_h() / 2) * (s.out_w() / 2);
            for_shards_mut2(pooled, m, argmax, m, |images, pooled, argmax| {
                forward_shard(isa, s, x, &packed, b, relu, images, &mut [], Some((pooled, argmax)))
            });
        }
        Some((pooled, argmax)) => {
            let m = s.out_c * (s.out_h() / 2) * (s.out_w() / 2);
            for_shards_mut3(y, item, pooled, m, argmax, m, |images, y, pooled, argmax| {
                forward_shard(isa, s, x, &packed, b, relu, images, y, Some((pooled, argmax)))
            });
        }
    }
}

/// The convolution whose forward is a stride-1 convolution's input gradient: over dY
/// padded by `k - 1 - pad`, with the kernel flipped and its channels swapped.
pub(super) fn adjoint(s: &Conv2dShape, w: &[f32]) -> (Conv2dShape, Vec<f32>) {
    let shape = Conv2dShape {
        in_c: s.out_c,
        in_h: s.out_h(),
        in_w: s.out_w(),
        out_c: s.in_c,
        pad_h: s.k_h - 1 - s.pad_h,
        pad_w: s.k_w - 1 - s.pad_w,
        ..*s
    };
    let (kk, k_in) = (s.k_h * s.k_w, s.in_c * s.k_h * s.k_w);
    let mut flipped = vec![0f32; s.weight_len()];
    for o in 0..s.out_c {
        for c in 0..s.in_c {
            for t in 0..kk {
                flipped[(c * s.out_c + o) * kk + (kk - 1 - t)] = w[o * k_in + c * kk + t];
            }
        }
    }
    (shape, flipped)
}

/// dx of a stride-1 convolution: the forward of its adjoint.
pub fn backward_input(isa: Isa, s: &Conv2dShape, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    check(isa, s);
    let (adjoint, flipped) = adjoint(s, w);
    forward(isa, &adjoint, dy, &flipped, None, false, dx, None);
}

/// dW summed over the batch.
pub fn backward_weights(isa: Isa, s: &Conv2dShape, x: &[f32], dy: Dy, dw: &mut [f32]) {
    check(isa, s);
    sum_over_batch(&mut dw[..s.weight_len()], s.batch, |images| weights_shard(isa, s, x, dy, images));
}
