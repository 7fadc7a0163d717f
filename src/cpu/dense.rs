//! Matrix multiply and dense layers on the CPU engine (shaders/matmul.wgsl; reference:
//! `reference::dense`): the batch's rows (or the weight gradient's rows) are split into
//! shards, one GEMM each, so no shard's output overlaps another's; the weight gradient's
//! sum over the batch runs one GEMM per leaf of `par::sum_over_batch`.

use super::expect_len;
use super::gemm::{gemm, Mat};
use super::par::{for_shards_mut, sum_over_batch};
use crate::desc::dense::{DenseShape, MatmulShape};
use crate::error::{shape_err, Error};

/// c = a * b (+ bias per column) (then ReLU); a is [m, k] or, transposed, [k, m]; b is
/// [k, n] or [n, k].
pub fn matmul(s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool, c: &mut [f32]) -> Result<(), Error> {
    if s.m == 0 || s.n == 0 || s.k == 0 {
        return Err(shape_err!("matmul: every dimension must be at least 1: {s:?}"));
    }
    expect_len("matmul A", a.len(), s.m * s.k)?;
    expect_len("matmul B", b.len(), s.k * s.n)?;
    expect_len("matmul C", c.len(), s.m * s.n)?;
    if let Some(bias) = bias {
        expect_len("matmul bias", bias.len(), s.n)?;
    }
    let bm = if s.trans_b { Mat::transposed(b, s.k) } else { Mat::rows(b, s.n) };
    for_shards_mut(&mut c[..s.m * s.n], s.n.max(1), |rows, c| {
        let am = if s.trans_a { Mat { data: &a[rows.start..], rs: 1, cs: s.m } } else { Mat::rows(&a[rows.start * s.k..], s.k) };
        gemm(rows.len(), s.n, s.k, am, bm, c, false);
        if bias.is_some() || relu {
            for row in c.chunks_mut(s.n) {
                for (j, v) in row.iter_mut().enumerate() {
                    let x = *v + bias.map_or(0.0, |b| b[j]);
                    *v = if relu { super::relu(x) } else { x };
                }
            }
        }
    });
    Ok(())
}

// The dense layers' shapes come from a checked plan; a mismatch is a programming error.
const CHECKED: &str = "dense shapes are checked when the network is planned";

pub fn dense_forward(s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) {
    matmul(&MatmulShape { m: s.batch, n: s.out_f, k: s.in_f, trans_a: false, trans_b: true }, x, w, Some(b), relu, y).expect(CHECKED)
}

pub fn dense_backward_input(s: &DenseShape, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    matmul(&MatmulShape { m: s.batch, n: s.in_f, k: s.out_f, trans_a: false, trans_b: false }, dy, w, None, false, dx).expect(CHECKED)
}

/// dW = dY^T X, one GEMM per leaf of the batch (`par::sum_over_batch`), so its sum over
/// the batch rounds the same on any number of threads or workers.
pub fn dense_backward_weights(s: &DenseShape, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let len = s.out_f * s.in_f;
    sum_over_batch(&mut dw[..len], s.batch, |rows| {
        let mut part = vec![0f32; len];
        let shape = MatmulShape { m: s.out_f, n: s.in_f, k: rows.len(), trans_a: true, trans_b: false };
        matmul(&shape, &dy[rows.start * s.out_f..rows.end * s.out_f], &x[rows.start * s.in_f..rows.end * s.in_f], None, false, &mut part)
            .expect(CHECKED);
        part
    })
}

pub fn dense_backward_bias(s: &DenseShape, dy: &[f32], db: &mut [f32]) {
    sum_over_batch(&mut db[..s.out_f], s.batch, |rows| {
        let mut part = vec![0f32; s.out_f];
        for row in dy[rows.start * s.out_f..rows.end * s.out_f].chunks(s.out_f) {
            part.iter_mut().zip(row).for_each(|(d, g)| *d += g);
        }
        part
    })
}
