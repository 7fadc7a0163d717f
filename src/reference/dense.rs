//! Matrix multiply and dense layers on the CPU: the ground truth for shaders/matmul.wgsl.

use crate::desc::dense::{DenseShape, MatmulShape};

pub fn matmul(s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Vec<f32> {
    let mut c = vec![0f32; s.m * s.n];
    for i in 0..s.m {
        for j in 0..s.n {
            let mut acc = bias.map_or(0.0, |b| b[j] as f64);
            for k in 0..s.k {
                let av = if s.trans_a { a[k * s.m + i] } else { a[i * s.k + k] };
                let bv = if s.trans_b { b[j * s.k + k] } else { b[k * s.n + j] };
                acc += av as f64 * bv as f64;
            }
            c[i * s.n + j] = if relu { acc.max(0.0) as f32 } else { acc as f32 };
        }
    }
    c
}

pub fn dense_forward(s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    matmul(&MatmulShape { m: s.batch, n: s.out_f, k: s.in_f, trans_a: false, trans_b: true }, x, w, Some(b), relu)
}

pub fn dense_backward_input(s: &DenseShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
    matmul(&MatmulShape { m: s.batch, n: s.in_f, k: s.out_f, trans_a: false, trans_b: false }, dy, w, None, false)
}

pub fn dense_backward_weights(s: &DenseShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    matmul(&MatmulShape { m: s.out_f, n: s.in_f, k: s.batch, trans_a: true, trans_b: false }, dy, x, None, false)
}

pub fn dense_backward_bias(s: &DenseShape, dy: &[f32]) -> Vec<f32> {
    super::reduce::channel_sum(s.batch, s.out_f, 1, dy)
}
