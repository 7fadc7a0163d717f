//! Winograd convolutions F(2x2, 3x3) and F(2x2, 5x5) on the CPU engine: the third
//! algorithm of `cpu::conv2d` (same ops, same reference, the same suite case runs it).
//!
//! Why: in wasm32 the direct kernels are bound by arithmetic, not memory. Core simd128
//! has no fused multiply-add, so each multiply-add is two instructions on the two ports
//! that run them (every tile shape measured the same, about 12 GFLOP/s on pytorch-cnn's
//! conv2). Winograd's minimal filtering computes each 2x2 block of outputs from
//! (2 + r - 1)^2 products per channel pair instead of 4 r^2: 36 against 100 for 5x5, 16
//! against 36 for 3x3, at the cost of transforms of the input (per input channel) and of
//! the output (per output channel).
//!
//! Y = A^T [ (G g G^T) . (B^T d B) ] A per 2x2 output block, with d the alpha x alpha input
//! patch (alpha = r + 1), g the r x r kernel. The matrices come from Toom-Cook at the points
//! 0, 1, -1 (, 2, -2) and infinity: A^T and G evaluate the two polynomials there, B^T is the
//! transposed inverse of the evaluation matrix, with its fractions moved into G (computed
//! exactly in rationals; `tests` checks the 1-D identity). Each of the alpha^2 products is
//! then a GEMM over channels, [out_c x in_c] x [in_c x blocks], run on the direct
//! kernels' register tile.

use super::conv2d_direct::{consecutive, forward_tile};
use super::par::for_shards_mut;
use super::simd::{Isa, Lanes};
use crate::desc::conv2d::Conv2dShape;
use std::ops::Range;

/// The three matrices of F(2, R), alpha = A = R + 1.
struct Minimal<const A: usize, const R: usize> {
    at: [[f32; A]; 2],
    g: [[f32; R]; A],
    bt: [[f32; A]; A],
}

const F2_3: Minimal<4, 3> = Minimal {
    at: [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, 1.0]],
    g: [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]],
    bt: [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, -1.0, 0.0, 1.0]],
};

const F2_5: Minimal<6, 5> = Minimal {
    at: [[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, 2.0, -2.0, 1.0]],
    g: [
        [1.0 / 4.0, 0.0, 0.0, 0.0, 0.0],
        [1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0],
        [1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0, 1.0 / 3.0, 2.0 / 3.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0, -1.0 / 3.0, 2.0 / 3.0],
        [0.0, 0.0, 0.0, 0.0, 1.0],
    ],
    bt: [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        [0.0, 4.0, 4.0, -1.0, -1.0, 0.0],
        [0.0, -4.0, 4.0, 1.0, -1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ],
};

/// Whether these kernels compute this shape: stride 1, a square 3x3 or 5x5 kernel, and
/// padding under the kernel size (the input gradient is then one of these too).
pub fn supports(s: &Conv2dShape) -> bool {
    s.stride == 1 && s.k_h == s.k_w && (s.k_h == 3 || s.k_h == 5) && s.pad_h < s.k_h && s.pad_w < s.k_w
}

/// m (N x K) times v, skipping zero entries of m: with m a constant and the loops unrolled,
/// the zeros vanish at compile time (a multiply by 0.0 is otherwise kept, for NaN's sake).
#[inline(always)]
fn apply<const N: usize, const K: usize>(m: &[[f32; K]; N], v: &[f32; K]) -> [f32; N] {
    let mut out = [0f32; N];
    for (o, row) in out.iter_mut().zip(m) {
        for (&c, &x) in row.iter().zip(v) {
            if c != 0.0 {
                *o += c * x;
            }
        }
    }
    out
}

/// `apply` on vectors of lanes (one block per lane); a coefficient of +-1 is an add.
#[inline(always)]
unsafe fn apply_lanes<L: Lanes, const N: usize, const K: usize>(m: &[[f32; K]; N], v: &[L::V; K]) -> [L::V; N] {
    let mut out = [L::zero(); N];
    for i in 0..N {
        for k in 0..K {
            let c = m[i][k];
            if c == 1.0 {
                out[i] = L::add(out[i], v[k]);
            } else if c == -1.0 {
                out[i] = L::sub(out[i], v[k]);
            } else if c != 0.0 {
                out[i] = L::madd(L::splat(c), v[k], out[i]);
            }
        }
    }
    out
}

/// M X M^T on vectors of lanes: columns of X first, then rows.
#[inline(always)]
unsafe fn sandwich_lanes<L: Lanes, const N: usize, const K: usize>(m: &[[f32; K]; N], x: &[[L::V; K]; K]) -> [[L::V; N]; N] {
    let mut t = [[L::zero(); N]; K]; // t[k] = M x[:, k]
    for k in 0..K {
        let mut col = [L::zero(); K];
        for j in 0..K {
            col[j] = x[j][k];
        }
        t[k] = apply_lanes::<L, N, K>(m, &col);
    }
    let mut out = [[L::zero(); N]; N];
    for i in 0..N {
        let mut row = [L::zero(); K];
        for k in 0..K {
            row[k] = t[k][i];
        }
        out[i] = apply_lanes::<L, N, K>(m, &row);
    }
    out
}

/// The geometry of one shape: blocks of 2x2 outputs, and the padded input they read with
/// its columns split by parity, so that column 2 tx + k of consecutive blocks tx is
/// contiguous (`half[k % 2][tx + k / 2]`) and loads a vector of blocks at once.
struct Blocks {
    th: usize,
    tw: usize,
    /// Padded rows per channel (every block's alpha x alpha patch inside).
    hq: usize,
    /// Floats per half row: the blocks' columns, plus a vector's overrun.
    half: usize,
    /// Blocks per image, rounded up to whole register tiles, plus a vector's overrun.
    padded: usize,
}

impl Blocks {
    fn new(s: &Conv2dShape, lanes: usize, nr: usize) -> Blocks {
        let (th, tw) = (s.out_h().div_ceil(2), s.out_w().div_ceil(2));
        let half = tw.div_ceil(lanes) * lanes + s.k_w.div_ceil(2);
        Blocks { th, tw, hq: 2 * th + s.k_h - 1, half, padded: (th * tw + lanes).div_ceil(nr) * nr }
    }

    /// Index of padded (row, col) of channel c in the split buffer.
    fn at(&self, c: usize, row: usize, col: usize) -> usize {
        ((c * self.hq + row) * 2 + col % 2) * self.half + col / 2
    }
}

/// U[xi][block of MR out channels][c][MR]: the transformed kernels, laid out as the
/// register tile reads weights (channel-major, MR per channel).
fn transform_weights<const A: usize, const R: usize>(f: &Minimal<A, R>, s: &Conv2dShape, w: &[f32], mr: usize) -> Vec<f32> {
    let ocp = s.out_c.div_ceil(mr) * mr;
    let mut u = vec![0f32; A * A * ocp * s.in_c];
    for o in 0..s.out_c {
        for c in 0..s.in_c {
            let g: [[f32; R]; R] = std::array::from_fn(|y| std::array::from_fn(|x| w[((o * s.in_c + c) * R + y) * R + x]));
            // G g G^T: G is A x R, so transform the R x R kernel on both sides.
            let mut t = [[0f32; R]; A];
            for (x, _) in g[0].iter().enumerate() {
                let col: [f32; R] = std::array::from_fn(|y| g[y][x]);
                let v = apply(&f.g, &col);
                for (i, v) in v.iter().enumerate() {
                    t[i][x] = *v;
                }
            }
            for (i, row) in t.iter().enumerate() {
                let v = apply(&f.g, row);
                for (k, v) in v.iter().enumerate() {
                    let xi = i * A + k;
                    u[(xi * ocp + (o / mr) * mr) * s.in_c + c * mr + o % mr] = *v;
                }
            }
        }
    }
    u
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn forward_images<L: Lanes, const MR: usize, const NV: usize, const A: usize, const R: usize>(
    f: &Minimal<A, R>,
    s: &Conv2dShape,
    x: &[f32],
    u: &[f32],
    b: Option<&[f32]>,
    relu: bool,
    images: Range<usize>,
    y: &mut [f32],
) {
    let (nr, n) = (NV * L::N, L::N);
    let g = Blocks::new(s, n, nr);
    let (oh, ow, p, in_len) = (s.out_h(), s.out_w(), s.out_h() * s.out_w(), s.in_c * s.in_h * s.in_w);
    let ocp = s.out_c.div_ceil(MR) * MR;
    let mut xs = vec![0f32; g.at(s.in_c, 0, 0)];
    let mut v = vec![0f32; A * A * s.in_c * g.padded];
    let mut m = vec![0f32; A * A * ocp * g.padded];
    let mut corner = vec![0f32; 4 * n];
    let channels: Vec<usize> = (0..s.in_c).map(|c| c * g.padded).collect();
    for (j, img) in images.enumerate() {
        for (c, src) in x[img * in_len..][..in_len].chunks(s.in_h * s.in_w).enumerate() {
            for (iy, line) in src.chunks(s.in_w).enumerate() {
                for (ix, &val) in line.iter().enumerate() {
                    xs[g.at(c, iy + s.pad_h, ix + s.pad_w)] = val;
                }
            }
        }
        // B^T d B for every channel and block, a vector of blocks along a block row at once
        // (the last vector of a row spills into the next row's blocks, rewritten after).
        let xp = xs.as_ptr();
        for c in 0..s.in_c {
            for ty in 0..g.th {
                for tx in (0..g.tw).step_by(n) {
                    let mut d = [[L::zero(); A]; A];
                    for (r, d) in d.iter_mut().enumerate() {
                        for (k, d) in d.iter_mut().enumerate() {
                            *d = L::load(xp.add(g.at(c, 2 * ty + r, k) + tx));
                        }
                    }
                    let t = sandwich_lanes::<L, A, A>(&f.bt, &d);
                    let block = ty * g.tw + tx;
                    for (i, row) in t.iter().enumerate() {
                        for (k, val) in row.iter().enumerate() {
                            L::store(v.as_mut_ptr().add(((i * A + k) * s.in_c + c) * g.padded + block), *val);
                        }
                    }
                }
            }
        }
        // One GEMM over channels per transform point.
        for xi in 0..A * A {
            let vx = v.as_ptr().add(xi * s.in_c * g.padded);
            for ob in (0..ocp).step_by(MR) {
                let w = u.as_ptr().add((xi * ocp + ob) * s.in_c);
                let out = m.as_mut_ptr().add((xi * ocp + ob) * g.padded);
                for q in (0..g.padded - n).step_by(nr) {
                    let outs = consecutive(out.add(q), L::N).map(|p| p.cast_mut());
                    forward_tile::<L, MR, NV>(consecutive(vx.add(q), L::N), &channels, w, outs, g.padded);
                }
            }
        }
        // A^T M A per output channel and vector of blocks, cropped to the output.
        let y = &mut y[j * s.out_c * p..][..s.out_c * p];
        for o in 0..s.out_c {
            let bias = b.map_or(0.0, |b| b[o]);
            for ty in 0..g.th {
                for tx in (0..g.tw).step_by(n) {
                    let block = ty * g.tw + tx;
                    let mut mm = [[L::zero(); A]; A];
                    for (i, mm) in mm.iter_mut().enumerate() {
                        for (k, mm) in mm.iter_mut().enumerate() {
                            *mm = L::load(m.as_ptr().add(((i * A + k) * ocp + o) * g.padded + block));
                        }
                    }
                    let out = sandwich_lanes::<L, 2, A>(&f.at, &mm);
                    for (e, val) in out.iter().flatten().enumerate() {
                        L::store(corner.as_mut_ptr().add(e * n), *val);
                    }
                    for lane in 0..n.min(g.tw - tx) {
                        for (e, val) in corner.chunks(n).map(|c| c[lane]).enumerate() {
                            let (oy, ox) = (2 * ty + e / 2, 2 * (tx + lane) + e % 2);
                            if oy < oh && ox < ow {
                                let val = val + bias;
                                y[o * p + oy * ow + ox] = if relu { super::relu(val) } else { val };
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Instantiates the image loop for one ISA and both kernel sizes inside a function that
/// enables the ISA's features.
macro_rules! isa_kernels {
    ($name:ident, $lanes:ty, $features:literal, $mr:literal x $nv:literal) => {
        #[cfg_attr(not(target_arch = "wasm32"), target_feature(enable = $features))]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name(s: &Conv2dShape, x: &[f32], u: &[f32], b: Option<&[f32]>, relu: bool, images: Range<usize>, y: &mut [f32]) {
            if s.k_h == 3 {
                forward_images::<$lanes, $mr, $nv, 4, 3>(&F2_3, s, x, u, b, relu, images, y)
            } else {
                forward_images::<$lanes, $mr, $nv, 6, 5>(&F2_5, s, x, u, b, relu, images, y)
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
isa_kernels!(forward_avx512, super::simd::Avx512, "avx512f,avx2,fma", 8 x 1);
#[cfg(target_arch = "x86_64")]
isa_kernels!(forward_avx2, super::simd::Avx2, "avx2,fma", 6 x 2);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
isa_kernels!(forward_simd128, super::simd::Simd128, "simd128", 4 x 2);

fn rows(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 8,
        Isa::Avx2 => 6,
        Isa::Simd128 => 4,
    }
}

/// y = conv(x, w) + b (then ReLU); lengths checked by the caller.
pub fn forward(isa: Isa, s: &Conv2dShape, x: &[f32], w: &[f32], b: Option<&[f32]>, relu: bool, y: &mut [f32]) {
    assert!(supports(s), "Winograd convolution of an unsupported shape ({}x{} kernel, stride {})", s.k_h, s.k_w, s.stride);
    assert!(Isa::available().contains(&isa), "{} is not available on this CPU", isa.name());
    let u = if s.k_h == 3 { transform_weights(&F2_3, s, w, rows(isa)) } else { transform_weights(&F2_5, s, w, rows(isa)) };
    let item = s.out_c * s.out_h() * s.out_w();
    for_shards_mut(&mut y[..s.batch * item], item, |images, y| {
        // SAFETY: `isa` is available (asserted above); every pointer the tiles read lies in
        // buffers sized from `Blocks` (whole register tiles of blocks, all channels).
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => forward_avx512(s, x, &u, b, relu, images, y),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => forward_avx2(s, x, &u, b, relu, images, y),
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                Isa::Simd128 => forward_simd128(s, x, &u, b, relu, images, y),
                #[allow(unreachable_patterns)]
                _ => unreachable!("{} kernels are not built for this target", isa.name()),
            }
        }
    });
}

/// dx: the forward of dY over the adjoint convolution (`conv2d_direct::adjoint`).
pub fn backward_input(isa: Isa, s: &Conv2dShape, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let (adjoint, flipped) = super::conv2d_direct::adjoint(s, w);
    forward(isa, &adjoint, dy, &flipped, None, false, dx);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 1-D identity behind both: y_i = sum_k g_k d_(i+k) = (A^T [(G g) . (B^T d)])_i.
    fn identity_holds<const A: usize, const R: usize>(f: &Minimal<A, R>) {
        for i in 0..2 {
            for k in 0..R {
                for l in 0..A {
                    let s: f64 = (0..A).map(|j| f.at[i][j] as f64 * f.g[j][k] as f64 * f.bt[j][l] as f64).sum();
                    let want = if l == i + k { 1.0 } else { 0.0 };
                    assert!((s - want).abs() < 1e-6, "F(2,{R}): entry ({i},{k},{l}) is {s}, not {want}");
                }
            }
        }
    }

    #[test]
    fn minimal_filtering_identities() {
        identity_holds(&F2_3);
        identity_holds(&F2_5);
    }
}
