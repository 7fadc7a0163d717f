//! Winograd convolutions on the GPU (shaders/conv2d_winograd.wgsl): F(2x2, 5x5) for
//! stride 1, the forward and the input gradient. `Kernel::Winograd` of
//! `ops::conv2d`; CPU twin `reference::conv2d`, like every conv kernel.
//!
//! Four passes: the weights' transform (once for the batch), then per chunk of images the
//! input's transform, 36 GEMMs and the output's transform. The scratch buffers grow with
//! the images (a pytorch-cnn conv2 at batch 64 needs 21.7 MB of V and M), so a batch that
//! would need more than `SCRATCH_WORDS` runs in chunks.

use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use crate::desc::conv2d::Conv2dShape;
use crate::error::Error;
use crate::gpu::Gpu;

const WINOGRAD: Shader = Shader { name: "conv2d_winograd", source: include_str!("../../shaders/conv2d_winograd.wgsl") };

/// The shader's source, for the kernel cache's fingerprint.
pub(crate) const SOURCE: &str = WINOGRAD.source;

/// The kernel size, the input tiles' size, and the output tiles'.
const R: usize = 5;
const ALPHA: usize = 6;
const M: usize = 2;
/// Filters and tiles per GEMM thread (the shader's 2 x 8 vec4 accumulators).
const FILTER_BLOCK: usize = 8;
const TILE_BLOCK: usize = 8;
/// Words in each of V and M per chunk at most (64 MB): under every adapter's 128 MiB
/// binding limit.
const SCRATCH_WORDS: usize = 16 << 20;

/// Whether these kernels compute this shape: stride 1, a 5x5 kernel. (Padding under the
/// kernel size is the rule of every conv shape, so the adjoint of a supported shape is
/// supported too.)
pub fn supports(s: &Conv2dShape) -> bool {
    s.stride == 1 && s.k_h == R && s.k_w == R
}

uniform! {
    /// `WinogradParams` of shaders/conv2d_winograd.wgsl.
    pub struct WinogradParams {
        first_image: u32, images: u32, in_c: u32, in_h: u32,
        in_w: u32, out_c: u32, out_h: u32, out_w: u32,
        pad_h: u32, pad_w: u32, _p0: u32, _p1: u32,
        tiles_h: u32, tiles_w: u32, tiles: u32, tile_stride: u32,
        filters: u32, adjoint: u32, relu: u32, bias: u32,
    }
}

/// One Winograd convolution: x [batch, in_c, in_h, in_w] to y [batch, out_c, out_h,
/// out_w] with a 5x5 kernel, stride 1, zero padding `pad`.
struct Plan {
    batch: usize,
    in_c: usize,
    in_hw: (usize, usize),
    out_c: usize,
    out_hw: (usize, usize),
    pad: (usize, usize),
    adjoint: bool,
}

impl Plan {
    /// The forward of `s`.
    fn forward(s: &Conv2dShape) -> Plan {
        Plan {
            batch: s.batch,
            in_c: s.in_c,
            in_hw: (s.in_h, s.in_w),
            out_c: s.out_c,
            out_hw: (s.out_h(), s.out_w()),
            pad: (s.pad_h, s.pad_w),
            adjoint: false,
        }
    }

    /// The input gradient of `s`: a convolution of dy with the weights transposed and
    /// flipped, padded by r - 1 - pad.
    fn adjoint(s: &Conv2dShape) -> Plan {
        Plan {
            batch: s.batch,
            in_c: s.out_c,
            in_hw: (s.out_h(), s.out_w()),
            out_c: s.in_c,
            out_hw: (s.in_h, s.in_w),
            pad: (s.k_h - 1 - s.pad_h, s.k_w - 1 - s.pad_w),
            adjoint: true,
        }
    }

    fn tiles_hw(&self) -> (usize, usize) {
        (self.out_hw.0.div_ceil(M), self.out_hw.1.div_ceil(M))
    }
    fn filters(&self) -> usize {
        self.out_c.next_multiple_of(FILTER_BLOCK)
    }
    /// Images per chunk: as many as fit V and M in `SCRATCH_WORDS` (or the adapter's
    /// binding limit), at least one.
    fn chunk(&self, gpu: &Gpu) -> usize {
        let (th, tw) = self.tiles_hw();
        let limit = (gpu.limits.max_storage_buffer_binding_size as usize / 4).min(SCRATCH_WORDS);
        let per_image = ALPHA * ALPHA * self.in_c.max(self.filters()) * th * tw;
        (limit / per_image).clamp(1, self.batch)
    }

    fn params(&self, first_image: usize, images: usize, tile_stride: usize, relu: bool, bias: bool) -> WinogradParams {
        let u = |v: usize| v as u32;
        let (th, tw) = self.tiles_hw();
        WinogradParams {
            first_image: u(first_image),
            images: u(images),
            in_c: u(self.in_c),
            in_h: u(self.in_hw.0),
            in_w: u(self.in_hw.1),
            out_c: u(self.out_c),
            out_h: u(self.out_hw.0),
            out_w: u(self.out_hw.1),
            pad_h: u(self.pad.0),
            pad_w: u(self.pad.1),
            _p0: 0,
            _p1: 0,
            tiles_h: u(th),
            tiles_w: u(tw),
            tiles: u(images * th * tw),
            tile_stride: u(tile_stride),
            filters: u(self.filters()),
            adjoint: self.adjoint as u32,
            relu: relu as u32,
            bias: bias as u32,
        }
    }

    /// The passes: U once, then V, M and the outputs per chunk. `b` is None for the
    /// input gradient (a placeholder is bound).
    fn dispatches(&self, gpu: &Gpu, x: &View, w: &View, b: Option<&View>, y: &View, relu: bool) -> Result<Vec<Dispatch>, Error> {
        let (th, tw) = self.tiles_hw();
        let chunk = self.chunk(gpu);
        let tile_stride = (chunk * th * tw).next_multiple_of(TILE_BLOCK);
        let xi = ALPHA * ALPHA;
        let u = View::new(gpu, "winograd U", xi * self.in_c * self.filters())?;
        let v = View::new(gpu, "winograd V", xi * self.in_c * tile_stride)?;
        let m = View::new(gpu, "winograd M", xi * self.filters() * tile_stride)?;
        let placeholder;
        let b = match b {
            Some(b) => b,
            None => {
                placeholder = View::new(gpu, "no bias", 1)?;
                &placeholder
            }
        };
        let first = self.params(0, chunk, tile_stride, relu, false);
        let mut out =
            vec![Dispatch::new(gpu, WINOGRAD, "winograd_weights", &first, &[(2, w), (5, &u)], groups_for(self.in_c * self.filters()))?];
        for first_image in (0..self.batch).step_by(chunk) {
            let images = chunk.min(self.batch - first_image);
            let p = self.params(first_image, images, tile_stride, relu, !self.adjoint);
            let tiles = images * th * tw;
            out.push(Dispatch::new(gpu, WINOGRAD, "winograd_input", &p, &[(1, x), (6, &v)], groups_for(self.in_c * tiles))?);
            out.push(Dispatch::new(
                gpu,
                WINOGRAD,
                "winograd_gemm",
                &p,
                &[(8, &u), (9, &v), (7, &m)],
                groups_for(xi * self.filters() / FILTER_BLOCK * tiles.div_ceil(TILE_BLOCK)),
            )?);
            out.push(Dispatch::new(gpu, WINOGRAD, "winograd_output", &p, &[(10, &m), (3, b), (4, y)], groups_for(self.out_c * tiles))?);
        }
        Ok(out)
    }
}

/// y = conv(x, w) + b, then ReLU if `relu` (shapes already checked by `ops::conv2d`).
pub(super) fn forward(gpu: &Gpu, s: &Conv2dShape, x: &View, w: &View, b: &View, y: &View, relu: bool) -> Result<Vec<Dispatch>, Error> {
    Plan::forward(s).dispatches(gpu, x, w, Some(b), y, relu)
}

/// dx from dy (shapes already checked by `ops::conv2d`).
pub(super) fn backward_input(gpu: &Gpu, s: &Conv2dShape, dy: &View, w: &View, dx: &View) -> Result<Vec<Dispatch>, Error> {
    Plan::adjoint(s).dispatches(gpu, dy, w, None, dx, false)
}
