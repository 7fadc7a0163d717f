//! matmul and dense layers: against the reference over every transpose, bias and ReLU
//! combination, and the dense gradients against finite differences.

use crate::desc::dense::{DenseShape, MatmulShape};
use crate::reference as cpu;
use crate::selftest::check::{check_layer_fd, project, Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};
use crate::selftest::engine::{CpuEngine, err, nan};
#[cfg(feature = "gpu")]
use crate::selftest::engine_gpu::{GpuEngine, poisoned, run_and_read, upload};
#[cfg(feature = "gpu")]
use crate::ops;

/// The op on each engine, as the suite runs it: host inputs in, outputs (poisoned with
/// NaN before the op runs) out.
#[allow(async_fn_in_trait, clippy::too_many_arguments)]
pub trait Op {
    async fn matmul(&self, s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Result<Vec<f32>, String>;
    /// (y, dx, dw, db) of a dense layer with output gradient `dy`.
    async fn dense(&self, s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String>;
}

impl Op for CpuEngine {
    async fn matmul(&self, s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Result<Vec<f32>, String> {
        let mut c = nan(s.m * s.n);
        crate::cpu::dense::matmul(s, a, b, bias, relu, &mut c).map_err(err)?;
        Ok(c)
    }

    async fn dense(&self, s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        let (mut y, mut dx, mut dw, mut db) = (nan(s.batch * s.out_f), nan(s.batch * s.in_f), nan(s.out_f * s.in_f), nan(s.out_f));
        crate::cpu::dense::dense_forward(s, x, w, b, &mut y, relu);
        crate::cpu::dense::dense_backward_input(s, dy, w, &mut dx);
        crate::cpu::dense::dense_backward_weights(s, x, dy, &mut dw);
        crate::cpu::dense::dense_backward_bias(s, dy, &mut db);
        Ok([y, dx, dw, db])
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn matmul(&self, s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Result<Vec<f32>, String> {
        let g = &self.gpu;
        let (av, bv, c) = (upload(g, a)?, upload(g, b)?, poisoned(g, s.m * s.n)?);
        let biasv = bias.map(|b| upload(g, b)).transpose()?;
        let d = ops::dense::matmul(g, s, &av, &bv, biasv.as_ref(), relu, &c, self.dense_kernel()).map_err(err)?;
        Ok(run_and_read(g, &[&d], &[&c]).await?.remove(0))
    }

    async fn dense(&self, s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        let (g, k) = (&self.gpu, self.dense_kernel());
        let (xv, wv, bv, dyv) = (upload(g, x)?, upload(g, w)?, upload(g, b)?, upload(g, dy)?);
        let (y, dx, dw, db) =
            (poisoned(g, s.batch * s.out_f)?, poisoned(g, s.batch * s.in_f)?, poisoned(g, s.out_f * s.in_f)?, poisoned(g, s.out_f)?);
        let ds = [
            ops::dense::dense_forward(g, s, &xv, &wv, &bv, &y, relu, k).map_err(err)?,
            ops::dense::dense_backward_input(g, s, &dyv, &wv, &dx, k).map_err(err)?,
            ops::dense::dense_backward_weights(g, s, &xv, &dyv, &dw, k).map_err(err)?,
            ops::dense::dense_backward_bias(g, s, &dyv, &db).map_err(err)?,
        ];
        let out = run_and_read(g, &ds.iter().collect::<Vec<_>>(), &[&y, &dx, &dw, &db]).await?;
        Ok(out.try_into().expect("four outputs"))
    }
}

pub async fn matmul_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("matmul");
    let sizes = [(1, 1, 1), (1, 10, 784), (17, 33, 5), (64, 128, 1024), (3, 3168, 576), (100, 7, 300), (31, 47, 17), (16, 16, 16)];
    for (row, &(m, n, k)) in sizes.iter().enumerate() {
        for (e, variant) in engine.variants(Widen::DenseKernels, row) {
            let s = MatmulShape { m, n, k, trans_a: row % 2 == 1, trans_b: row % 4 >= 2 };
            let (with_bias, relu) = (row % 3 != 0, row % 3 == 2);
            let (a, b, bias) = (rng.vec(m * k), rng.vec(k * n), rng.vec(n));
            let c = e.matmul(&s, &a, &b, with_bias.then_some(&bias[..]), relu).await?;
            let what = format!("{m}x{k} * {k}x{n} trans_a={} trans_b={} bias={with_bias} relu={relu} {variant}", s.trans_a, s.trans_b);
            rep.compare(&what, &c, &cpu::dense::matmul(&s, &a, &b, with_bias.then_some(&bias[..]), relu))?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}

pub async fn dense_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("dense");
    let shapes = [(1, 784, 10), (5, 17, 3), (33, 100, 129), (64, 1024, 128), (2, 576, 3168)];
    for (row, &(batch, in_f, out_f)) in shapes.iter().enumerate() {
        for (e, variant) in engine.variants(Widen::DenseKernels, row) {
            let s = DenseShape { batch, in_f, out_f };
            let (x, w, b, dy) = (rng.vec(batch * in_f), rng.vec(out_f * in_f), rng.vec(out_f), rng.vec(batch * out_f));
            let relu = row % 2 == 0;
            let out = e.dense(&s, &x, &w, &b, &dy, relu).await?;
            let what = format!("[{batch}, {in_f}] -> {out_f} {variant}");
            rep.compare(&format!("forward {what}"), &out[0], &cpu::dense::dense_forward(&s, &x, &w, &b, relu))?;
            rep.compare(&format!("backward input {what}"), &out[1], &cpu::dense::dense_backward_input(&s, &dy, &w))?;
            rep.compare(&format!("backward weights {what}"), &out[2], &cpu::dense::dense_backward_weights(&s, &x, &dy))?;
            rep.compare(&format!("backward bias {what}"), &out[3], &cpu::dense::dense_backward_bias(&s, &dy))?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}

pub async fn dense_backward_matches_finite_differences<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("dense backward (finite differences)");
    let s = DenseShape { batch: 3, in_f: 7, out_f: 5 };
    for (e, variant) in engine.variants(Widen::DenseKernels, 0) {
        let (x, w, b, r) = (rng.vec(21), rng.vec(35), rng.vec(5), rng.vec(15));
        let out = e.dense(&s, &x, &w, &b, &r, false).await?;
        let engine_grads = [out[1].clone(), out[2].clone(), out[3].clone()];
        let ref_grads = [
            cpu::dense::dense_backward_input(&s, &r, &w),
            cpu::dense::dense_backward_weights(&s, &x, &r),
            cpu::dense::dense_backward_bias(&s, &r),
        ];
        let f = |x: &[f32], w: &[f32], b: &[f32]| project(&cpu::dense::dense_forward(&s, x, w, b, false), &r);
        check_layer_fd(&mut rep, rng, 50, [&x, &w, &b], &ref_grads, &engine_grads, f)?;
        rep.shapes.push(format!("[3, 7] -> 5 {variant}"));
    }
    Ok(rep)
}
