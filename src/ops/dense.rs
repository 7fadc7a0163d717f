//! Dense (fully connected) layers on a matrix multiply: tiled (shaders/matmul.wgsl) or
//! direct (shaders/matmul_direct.wgsl).
//! Weights are [out, in] as in PyTorch. CPU twin: `reference::dense`.

use super::choice::{narrow_tile, wide_tile, Kernel};
use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use super::reduce::channel_sum;
use crate::desc::dense::{DenseShape, MatmulShape};
use crate::error::{shape_err, Error};
use crate::gpu::Gpu;

/// Every candidate's source, for the kernel cache's fingerprint.
pub(crate) const SOURCES: [&str; 3] = [TILED.source, TILED_NARROW.source, DIRECT.source];

/// One module per tile shape of shaders/gemm.wgsl, and the direct kernel.
const TILED: Shader = Shader {
    name: "matmul",
    source: concat!(
        wide_tile!(),
        include_str!("../../shaders/matmul_bindings.wgsl"),
        include_str!("../../shaders/gemm.wgsl"),
        include_str!("../../shaders/matmul.wgsl")
    ),
};
const TILED_NARROW: Shader = Shader {
    name: "matmul_narrow",
    source: concat!(
        narrow_tile!(),
        include_str!("../../shaders/matmul_bindings.wgsl"),
        include_str!("../../shaders/gemm.wgsl"),
        include_str!("../../shaders/matmul.wgsl")
    ),
};
const DIRECT: Shader = Shader {
    name: "matmul_direct",
    source: concat!(include_str!("../../shaders/matmul_bindings.wgsl"), include_str!("../../shaders/matmul_direct.wgsl")),
};
/// Rows x columns of C per direct thread (shaders/matmul_direct.wgsl).
const DIRECT_BLOCK: (usize, usize) = (4, 8);

uniform! {
    /// `MatmulParams` of shaders/matmul.wgsl.
    pub struct MatmulParams { m: u32, n: u32, k: u32, k_chunk: u32, trans_a: u32, trans_b: u32, has_bias: u32, relu: u32 }
}

/// C = op(A) op(B) (+ bias[n]) (then ReLU), on `kernel`: the direct kernel or a tile.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    gpu: &Gpu,
    s: &MatmulShape,
    a: &View,
    b: &View,
    bias: Option<&View>,
    relu: bool,
    c: &View,
    kernel: Kernel,
) -> Result<Dispatch, Error> {
    if s.m == 0 || s.n == 0 || s.k == 0 {
        return Err(shape_err!("matmul: every dimension must be at least 1: {s:?}"));
    }
    a.expect("matmul A", s.m * s.k)?;
    b.expect("matmul B", s.k * s.n)?;
    c.expect("matmul C", s.m * s.n)?;
    let no_bias;
    let bias_view = match bias {
        Some(v) => v.expect("matmul bias", s.n)?,
        None => {
            no_bias = View::new(gpu, "no-bias", 1)?;
            &no_bias
        }
    };
    // One split: k_chunk is all of k (the conv kernels split k, the dense layers do not).
    let params = MatmulParams {
        m: s.m as u32,
        n: s.n as u32,
        k: s.k as u32,
        k_chunk: s.k as u32,
        trans_a: s.trans_a as u32,
        trans_b: s.trans_b as u32,
        has_bias: bias.is_some() as u32,
        relu: relu as u32,
    };
    let all = [(1, a), (2, b), (3, bias_view), (4, c)];
    if kernel == Kernel::Direct {
        let threads = s.m.div_ceil(DIRECT_BLOCK.0) * s.n.div_ceil(DIRECT_BLOCK.1);
        return Dispatch::new(gpu, DIRECT, "matmul_direct", &params, &all, groups_for(threads));
    }
    let (bm, bn) = kernel.tile();
    let tiles = s.m.div_ceil(bm) as u64 * s.n.div_ceil(bn) as u64;
    let shader = if kernel == Kernel::TiledNarrow { TILED_NARROW } else { TILED };
    Dispatch::new(gpu, shader, "matmul", &params, &all, tiles)
}

/// y = x W^T + b (then ReLU).
#[allow(clippy::too_many_arguments)]
pub fn dense_forward(
    gpu: &Gpu,
    s: &DenseShape,
    x: &View,
    w: &View,
    b: &View,
    y: &View,
    relu: bool,
    kernel: Kernel,
) -> Result<Dispatch, Error> {
    let mm = MatmulShape { m: s.batch, n: s.out_f, k: s.in_f, trans_a: false, trans_b: true };
    matmul(gpu, &mm, x, w, Some(b), relu, y, kernel)
}

/// dx = dy W.
pub fn dense_backward_input(gpu: &Gpu, s: &DenseShape, dy: &View, w: &View, dx: &View, kernel: Kernel) -> Result<Dispatch, Error> {
    let mm = MatmulShape { m: s.batch, n: s.in_f, k: s.out_f, trans_a: false, trans_b: false };
    matmul(gpu, &mm, dy, w, None, false, dx, kernel)
}

/// dW = dy^T x.
pub fn dense_backward_weights(gpu: &Gpu, s: &DenseShape, x: &View, dy: &View, dw: &View, kernel: Kernel) -> Result<Dispatch, Error> {
    let mm = MatmulShape { m: s.out_f, n: s.in_f, k: s.batch, trans_a: true, trans_b: false };
    matmul(gpu, &mm, dy, x, None, false, dw, kernel)
}

/// db = column sums of dy.
pub fn dense_backward_bias(gpu: &Gpu, s: &DenseShape, dy: &View, db: &View) -> Result<Dispatch, Error> {
    channel_sum(gpu, s.batch, s.out_f, 1, dy, db)
}
