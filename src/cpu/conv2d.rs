//! 2-D convolution on the CPU engine (shaders/conv2d.wgsl; reference:
//! `reference::conv2d`) by one of three algorithms (`Algo`), chosen per pass: direct SIMD
//! kernels for stride-1 layers where this CPU has an ISA they are built for
//! (`conv2d_direct`: natively on x86-64 and in wasm32), Winograd for 3x3 and 5x5 ones in
//! wasm32 (`conv2d_winograd`), else (this file) GEMMs over im2col columns, a group of
//! images at a time within each shard of the batch (the group's columns side by side, G *
//! P wide): forward
//! W[out_c, K] * cols[K, G*P]; input gradient W^T * dY, folded back by col2im; weight
//! gradient dY * cols^T, summed over the shard's groups and then over shards.
//! K = in_c * k_h * k_w, P = out_h * out_w.

use super::conv2d_direct as direct;
use super::conv2d_winograd as winograd;
use super::expect_len;
use super::gemm::{gemm, Mat};
use super::par::{for_shards_mut, sum_over_batch};
use super::simd::Isa;
use crate::desc::conv2d::Conv2dShape;
use super::maxpool::PoolGrad;
use crate::desc::maxpool::PoolShape;
use crate::error::Error;

/// Whether im2col's GEMMs are large enough to run near the GEMM's best (channel pairs,
/// from the measurements above: 512 was even, 2,048 won).
fn large_gemm(s: &Conv2dShape) -> bool {
    s.in_c * s.out_c >= 1024
}

/// How the CPU engine computes a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    /// `conv2d_direct`'s kernels for this ISA (stride 1 only).
    Direct(Isa),
    /// `conv2d_winograd`'s F(2x2, 3x3) and F(2x2, 5x5) for the forward and the input
    /// gradient, the direct weight gradient (stride 1, square 3x3 and 5x5 kernels only).
    Winograd(Isa),
    /// im2col columns and the GEMM (`cpu::gemm`): any shape, any CPU.
    Im2colGemm,
}

impl Algo {
    /// The fastest algorithm for the forward of `s` on this CPU.
    pub fn for_shape(s: &Conv2dShape) -> Algo {
        Algo::choose(s, s.in_c)
    }

    /// The fastest algorithm for the input gradient of `s`: its own sums run over the
    /// output channels. The direct and Winograd input gradients convolve dY padded by
    /// `k - 1 - pad`, multiplying `in_h * in_w / (out_h * out_w)` times the work of the
    /// forward (zeros included): past 1.5x, with GEMMs large enough to run im2col well,
    /// im2col is faster (pytorch-convnet's conv2, 2.25x, 32 x 64 channels: 11.8 ms direct
    /// against 8.0, one core, batch 64; lenet's, 2.25x but 6 x 16: 0.71 against 1.00, and
    /// mindspore's, 16 x 32: 2.83 against 2.88). Their tiles also span 4-8 input channels:
    /// with one or two (a first layer's, which training never asks for) im2col is faster
    /// too (fast's conv1: 7.3 ms against 23 at batch 256).
    pub fn for_input_gradient(s: &Conv2dShape) -> Algo {
        if s.in_c < 3 || (2 * s.in_h * s.in_w > 3 * s.out_h() * s.out_w() && large_gemm(s)) {
            return Algo::Im2colGemm;
        }
        Algo::choose(s, s.out_c)
    }

    /// The fastest algorithm for the weight gradient of `s` (Winograd leaves it to the
    /// direct kernels). The direct kernels sum over output rows as wide as the padded
    /// input: from 1.5x the output's width, with large enough GEMMs, im2col is faster
    /// (pytorch-convnet's conv2, 12 for 8, 32 x 64 channels: 13.4 ms against 8.9, one core,
    /// batch 64; lenet's, 6 x 16: 0.59 against 1.35; mindspore's, 16 x 32: 3.06 against
    /// 3.18).
    pub fn for_weight_gradient(s: &Conv2dShape) -> Algo {
        if 2 * (s.in_w + 2 * s.pad_w) >= 3 * s.out_w() && large_gemm(s) {
            return Algo::Im2colGemm;
        }
        Algo::for_shape(s)
    }

    /// By measurement (docs/benchmarks.md, "Direct and Winograd convolutions"): Winograd
    /// where arithmetic bounds the direct kernels (simd128, no FMA) and enough channels are
    /// summed to pay for its transforms; else direct; else im2col.
    fn choose(s: &Conv2dShape, summed_channels: usize) -> Algo {
        match Isa::best() {
            Some(isa) if isa == Isa::Simd128 && summed_channels >= 8 && s.batch >= 2 && winograd::supports(s) => Algo::Winograd(isa),
            Some(isa) if direct::supports(s) => Algo::Direct(isa),
            _ => Algo::Im2colGemm,
        }
    }

    /// Every algorithm this CPU has (the engine suite checks each).
    pub fn all() -> Vec<Algo> {
        let isas = Isa::available();
        isas.iter().map(|&i| Algo::Direct(i)).chain(isas.iter().map(|&i| Algo::Winograd(i))).chain([Algo::Im2colGemm]).collect()
    }

    /// Whether it computes `s`.
    pub fn computes(self, s: &Conv2dShape) -> bool {
        match self {
            Algo::Direct(isa) => direct::supports(s) && Isa::available().contains(&isa),
            Algo::Winograd(isa) => winograd::supports(s) && Isa::available().contains(&isa),
            Algo::Im2colGemm => true,
        }
    }

    pub fn name(self) -> String {
        match self {
            Algo::Direct(isa) => format!("direct {}", isa.name()),
            Algo::Winograd(isa) => format!("winograd {}", isa.name()),
            Algo::Im2colGemm => "im2col gemm".to_string(),
        }
    }
}

/// The output positions `lo..hi` along one axis whose input `o * stride + k - pad` falls
/// inside `0..input`: outside them the window hangs over the zero padding.
fn inside(outputs: usize, input: usize, k: usize, pad: usize, stride: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(k).div_ceil(stride).min(outputs);
    let hi = if input + pad > k { (input + pad - k).div_ceil(stride).min(outputs) } else { 0 };
    (lo, hi.max(lo))
}

/// The columns of one image: row (c, ky, kx) holds the input under that tap at every
/// output position, zero where the window hangs over the padding; the image's P columns
/// start at `first` of rows `width` long. Rows are filled with slice copies (stride 1)
/// rather than per-element bounds checks.
fn im2col(s: &Conv2dShape, x: &[f32], cols: &mut [f32], width: usize, first: usize) {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut rows = cols.chunks_mut(width).map(|r| &mut r[first..first + oh * ow]);
    for c in 0..s.in_c {
        let plane = &x[c * s.in_h * s.in_w..][..s.in_h * s.in_w];
        for ky in 0..s.k_h {
            let (y_lo, y_hi) = inside(oh, s.in_h, ky, s.pad_h, s.stride);
            for kx in 0..s.k_w {
                let (x_lo, x_hi) = inside(ow, s.in_w, kx, s.pad_w, s.stride);
                let row = rows.next().expect("cols holds K rows");
                row[..y_lo * ow].fill(0.0);
                row[y_hi * ow..].fill(0.0);
                for oy in y_lo..y_hi {
                    let out = &mut row[oy * ow..][..ow];
                    let line = &plane[(oy * s.stride + ky - s.pad_h) * s.in_w..][..s.in_w];
                    out[..x_lo].fill(0.0);
                    out[x_hi..].fill(0.0);
                    let first = x_lo * s.stride + kx - s.pad_w;
                    if s.stride == 1 {
                        out[x_lo..x_hi].copy_from_slice(&line[first..first + x_hi - x_lo]);
                    } else {
                        out[x_lo..x_hi].iter_mut().zip(line[first..].iter().step_by(s.stride)).for_each(|(o, v)| *o = *v);
                    }
                }
            }
        }
    }
}

/// The adjoint of im2col: adds each column entry back onto the input element it came from.
fn col2im_add(s: &Conv2dShape, cols: &[f32], width: usize, first: usize, dx: &mut [f32]) {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut rows = cols.chunks(width).map(|r| &r[first..first + oh * ow]);
    for c in 0..s.in_c {
        let plane = &mut dx[c * s.in_h * s.in_w..][..s.in_h * s.in_w];
        for ky in 0..s.k_h {
            let (y_lo, y_hi) = inside(oh, s.in_h, ky, s.pad_h, s.stride);
            for kx in 0..s.k_w {
                let (x_lo, x_hi) = inside(ow, s.in_w, kx, s.pad_w, s.stride);
                let row = rows.next().expect("cols holds K rows");
                for oy in y_lo..y_hi {
                    let src = &row[oy * ow + x_lo..oy * ow + x_hi];
                    let line = &mut plane[(oy * s.stride + ky - s.pad_h) * s.in_w..][..s.in_w];
                    let first = x_lo * s.stride + kx - s.pad_w;
                    if s.stride == 1 {
                        line[first..first + src.len()].iter_mut().zip(src).for_each(|(d, v)| *d += v);
                    } else {
                        line[first..].iter_mut().step_by(s.stride).zip(src).for_each(|(d, v)| *d += v);
                    }
                }
            }
        }
    }
}

fn taps(s: &Conv2dShape) -> usize {
    s.in_c * s.k_h * s.k_w
}

/// A group's columns stay within this many floats (768 KiB, inside one core's L2), and a
/// group is at most `MAX_GROUP` images. One image per GEMM left the kernels starved on
/// small layers (the fast preset's conv2: M 32, N 100, K 216); measured in
/// docs/benchmarks.md, "CPU convolutions by groups of images".
const GROUP_FLOATS: usize = 192 * 1024;
const MAX_GROUP: usize = 16;

/// Images per GEMM for this layer.
fn group_size(s: &Conv2dShape) -> usize {
    (GROUP_FLOATS / (taps(s) * s.out_h() * s.out_w()).max(1)).clamp(1, MAX_GROUP)
}

/// Each group of the shard's images (as a range of batch indices), in order.
fn groups(images: std::ops::Range<usize>, g: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    images.clone().step_by(g).map(move |start| start..(start + g).min(images.end))
}

/// dY of a group's images side by side: row o of [out_c, G*P] holds image j's plane o at
/// columns j*P.. (the layout the group's columns have).
fn gather_planes(s: &Conv2dShape, dy: &[f32], group: &std::ops::Range<usize>, out: &mut [f32]) {
    let p = s.out_h() * s.out_w();
    let width = group.len() * p;
    for (j, n) in group.clone().enumerate() {
        for (o, plane) in dy[n * s.out_c * p..][..s.out_c * p].chunks(p).enumerate() {
            out[o * width + j * p..][..p].copy_from_slice(plane);
        }
    }
}

/// y = conv(x, w) + b (then ReLU). The shape and lengths are checked as on the GPU.
pub fn conv2d_forward(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) -> Result<(), Error> {
    conv2d_forward_by(Algo::for_shape(s), s, x, w, b, y, relu)
}

/// `conv2d_forward` by a given algorithm (which must compute `s`).
pub fn conv2d_forward_by(algo: Algo, s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) -> Result<(), Error> {
    check_forward(s, x, w, b, y)?;
    match algo {
        Algo::Direct(isa) => direct::forward(isa, s, x, w, Some(b), relu, y, None),
        Algo::Winograd(isa) => winograd::forward(isa, s, x, w, Some(b), relu, y),
        Algo::Im2colGemm => im2col_forward(s, x, w, b, y, relu),
    }
    Ok(())
}

/// The shape and the lengths of a forward's buffers.
fn check_forward(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], y: &[f32]) -> Result<(), Error> {
    check_inputs(s, x, w, b)?;
    expect_len("conv2d output", y.len(), s.output_len())
}

/// The shape and the lengths of a forward's inputs.
fn check_inputs(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32]) -> Result<(), Error> {
    s.validate()?;
    expect_len("conv2d input", x.len(), s.input_len())?;
    expect_len("conv2d weights", w.len(), s.weight_len())?;
    expect_len("conv2d bias", b.len(), s.out_c)
}

/// `conv2d_forward`, then a 2x2 max-pool of its output into `pooled` and `argmax` (flat
/// indices into y), which the direct kernels do as each image is done. An empty `y` asks
/// for the pooled output alone (a training step whose backward never reads y: fast's
/// first layer at batch 256 wrote 14 MB that nothing read).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_pool_forward(
    s: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    relu: bool,
    pooled: &mut [f32],
    argmax: &mut [u32],
) -> Result<(), Error> {
    let pool = PoolShape { planes: s.batch * s.out_c, in_h: s.out_h(), in_w: s.out_w() };
    match Algo::for_shape(s) {
        Algo::Direct(isa) if pool.in_h >= 2 && pool.in_w >= 2 => {
            check_inputs(s, x, w, b)?;
            if !y.is_empty() {
                expect_len("conv2d output", y.len(), s.output_len())?;
            }
            expect_len("maxpool output", pooled.len(), pool.output_len())?;
            expect_len("maxpool argmax", argmax.len(), pool.output_len())?;
            direct::forward(isa, s, x, w, Some(b), relu, y, Some((pooled, argmax)));
            Ok(())
        }
        _ => {
            let mut kept = Vec::new();
            let y = if y.is_empty() {
                kept.resize(s.output_len(), 0f32);
                &mut kept[..]
            } else {
                y
            };
            conv2d_forward(s, x, w, b, y, relu)?;
            super::maxpool::maxpool_forward(&pool, y, pooled, argmax)
        }
    }
}

/// W * cols per group of images, then bias (and ReLU).
fn im2col_forward(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) {
    let (k, p, in_len, g) = (taps(s), s.out_h() * s.out_w(), s.in_c * s.in_h * s.in_w, group_size(s));
    for_shards_mut(&mut y[..s.output_len()], s.out_c * p, |images, y| {
        let (mut cols, mut out) = (vec![0f32; k * g * p], vec![0f32; s.out_c * g * p]);
        let first = images.start;
        for group in groups(images, g) {
            let width = group.len() * p;
            for (j, n) in group.clone().enumerate() {
                im2col(s, &x[n * in_len..][..in_len], &mut cols, width, j * p);
            }
            gemm(s.out_c, width, k, Mat::rows(w, k), Mat::rows(&cols[..k * width], width), &mut out, false);
            for (j, n) in group.enumerate() {
                let y = &mut y[(n - first) * s.out_c * p..][..s.out_c * p];
                for (o, (plane, &bias)) in y.chunks_mut(p).zip(b).enumerate() {
                    let src = &out[o * width + j * p..][..p];
                    if relu {
                        plane.iter_mut().zip(src).for_each(|(v, s)| *v = super::relu(s + bias));
                    } else {
                        plane.iter_mut().zip(src).for_each(|(v, s)| *v = s + bias);
                    }
                }
            }
        }
    });
}

pub fn conv2d_backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    conv2d_backward_input_by(Algo::for_input_gradient(s), s, dy, w, dx)
}

/// `conv2d_backward_input` by a given algorithm (which must compute `s`).
pub fn conv2d_backward_input_by(algo: Algo, s: &Conv2dShape, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    match algo {
        Algo::Direct(isa) => direct::backward_input(isa, s, dy, w, dx),
        Algo::Winograd(isa) => winograd::backward_input(isa, s, dy, w, dx),
        Algo::Im2colGemm => im2col_backward_input(s, dy, w, dx),
    }
}

/// W^T * dY per group of images, folded back by col2im.
fn im2col_backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let (k, p, in_len, g) = (taps(s), s.out_h() * s.out_w(), s.in_c * s.in_h * s.in_w, group_size(s));
    for_shards_mut(&mut dx[..s.input_len()], in_len, |images, dx| {
        let (mut cols, mut planes) = (vec![0f32; k * g * p], vec![0f32; s.out_c * g * p]);
        let first = images.start;
        for group in groups(images, g) {
            let width = group.len() * p;
            gather_planes(s, dy, &group, &mut planes);
            gemm(k, width, s.out_c, Mat::transposed(w, k), Mat::rows(&planes[..s.out_c * width], width), &mut cols, false);
            for (j, n) in group.enumerate() {
                let dx = &mut dx[(n - first) * in_len..][..in_len];
                dx.fill(0.0);
                col2im_add(s, &cols, width, j * p, dx);
            }
        }
    });
}

/// dW, summed over the batch.
pub fn conv2d_backward_weights(s: &Conv2dShape, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    conv2d_backward_weights_by(Algo::for_weight_gradient(s), s, x, dy, dw)
}

/// `conv2d_backward_weights` by a given algorithm (which must compute `s`).
pub fn conv2d_backward_weights_by(algo: Algo, s: &Conv2dShape, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    match algo {
        Algo::Direct(isa) | Algo::Winograd(isa) => direct::backward_weights(isa, s, x, direct::Dy::Planes(dy), dw),
        Algo::Im2colGemm => im2col_backward_weights(s, x, dy, dw),
    }
}

/// dW and db of a convolution whose output a 2x2 max-pool read, from the pool's gradient
/// `g`: the pool's backward, then `conv2d_backward_weights` and `conv2d_backward_bias`,
/// except that the direct kernels unpool each image into their own buffer (see
/// `conv2d_direct::Dy`). dW is the two passes' bit for bit; db sums the same values in
/// another order.
pub fn conv2d_backward_weights_pooled(s: &Conv2dShape, x: &[f32], g: PoolGrad, dw: &mut [f32], db: &mut [f32]) -> Result<(), Error> {
    let pool = PoolShape { planes: s.batch * s.out_c, in_h: s.out_h(), in_w: s.out_w() };
    expect_len("conv2d input", x.len(), s.input_len())?;
    expect_len("conv2d weight gradient", dw.len(), s.weight_len())?;
    expect_len("conv2d bias gradient", db.len(), s.out_c)?;
    expect_len("maxpool output gradient", g.dy.len(), pool.output_len())?;
    expect_len("maxpool argmax", g.argmax.len(), pool.output_len())?;
    if let Some(y) = g.relu_of {
        expect_len("maxpool output", y.len(), pool.output_len())?;
    }
    match Algo::for_weight_gradient(s) {
        Algo::Direct(isa) | Algo::Winograd(isa) if pool.in_h >= 2 && pool.in_w >= 2 => {
            direct::backward_weights(isa, s, x, direct::Dy::Pooled(g), dw);
            let m = pool.out_h() * pool.out_w();
            sum_over_batch(db, s.batch, |images| {
                let (mut part, mut plane) = (vec![0f32; s.out_c], vec![0f32; m]);
                for n in images {
                    for (c, part) in part.iter_mut().enumerate() {
                        let first = (n * s.out_c + c) * m;
                        g.values_into(first..first + m, &mut plane);
                        *part += super::sum(&plane);
                    }
                }
                part
            });
        }
        _ => {
            let mut dy = vec![0f32; s.output_len()];
            super::maxpool::backward(&pool, g, &mut dy);
            conv2d_backward_weights(s, x, &dy, dw);
            conv2d_backward_bias(s, &dy, db);
        }
    }
    Ok(())
}

/// Each shard accumulates dW^T = cols * dY^T: the large operand (cols) is then read
/// row-major and only the small dY is read transposed, which rten-gemm packs far faster
/// than a transposed cols (pytorch-cnn batch 64: conv1's weight gradient 3.96 -> see
/// docs/benchmarks.md).
fn im2col_backward_weights(s: &Conv2dShape, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let (k, p, in_len, g) = (taps(s), s.out_h() * s.out_w(), s.in_c * s.in_h * s.in_w, group_size(s));
    sum_over_batch(&mut dw[..s.weight_len()], s.batch, |images| {
        let (mut cols, mut planes, mut part_t) = (vec![0f32; k * g * p], vec![0f32; s.out_c * g * p], vec![0f32; k * s.out_c]);
        for group in groups(images, g) {
            let width = group.len() * p;
            for (j, n) in group.clone().enumerate() {
                im2col(s, &x[n * in_len..][..in_len], &mut cols, width, j * p);
            }
            gather_planes(s, dy, &group, &mut planes);
            let dy_t = Mat::transposed(&planes[..s.out_c * width], width);
            gemm(k, s.out_c, width, Mat::rows(&cols[..k * width], width), dy_t, &mut part_t, true);
        }
        let mut part = vec![0f32; s.out_c * k];
        for (j, row) in part_t.chunks(s.out_c).enumerate() {
            for (o, v) in row.iter().enumerate() {
                part[o * k + j] = *v;
            }
        }
        part
    });
}

pub fn conv2d_backward_bias(s: &Conv2dShape, dy: &[f32], db: &mut [f32]) {
    let p = s.out_h() * s.out_w();
    sum_over_batch(&mut db[..s.out_c], s.batch, |images| {
        let mut part = vec![0f32; s.out_c];
        for n in images {
            for (c, plane) in dy[n * s.out_c * p..][..s.out_c * p].chunks(p).enumerate() {
                part[c] += super::sum(plane);
            }
        }
        part
    });
}
