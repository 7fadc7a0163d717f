//! batchnorm: eval and training forward, batch and running statistics, and all three
//! gradients against the reference; the gradients against finite differences.

use crate::desc::batchnorm::BatchNormShape;
use crate::reference as cpu;
use crate::selftest::check::{project, Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};
use crate::selftest::engine::{CpuEngine, nan, BatchNormOut};
#[cfg(feature = "gpu")]
use crate::selftest::engine_gpu::{GpuEngine, poisoned, run_and_read, upload};
#[cfg(feature = "gpu")]
use crate::selftest::engine::err;
#[cfg(feature = "gpu")]
use crate::ops;

/// The op on each engine, as the suite runs it: host inputs in, outputs (poisoned with
/// NaN before the op runs) out.
#[allow(async_fn_in_trait, clippy::too_many_arguments)]
pub trait Op {
    /// Eval forward on `running`, then a training forward (updating it) and backward.
    async fn batchnorm(
        &self,
        s: &BatchNormShape,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        running: &[f32],
        dy: &[f32],
    ) -> Result<BatchNormOut, String>;

    /// The eval-mode input gradient on `running` (saliency's path).
    async fn batchnorm_eval_backward(&self, s: &BatchNormShape, dy: &[f32], gamma: &[f32], running: &[f32]) -> Result<Vec<f32>, String>;
}

impl Op for CpuEngine {
    async fn batchnorm(
        &self,
        s: &BatchNormShape,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        running: &[f32],
        dy: &[f32],
    ) -> Result<BatchNormOut, String> {
        let c = s.channels;
        let (mut y_eval, mut y, mut stats, mut running) = (nan(s.len()), nan(s.len()), nan(2 * c), running.to_vec());
        let (mut dx, mut dgamma, mut dbeta) = (nan(s.len()), nan(c), nan(c));
        crate::cpu::batchnorm::batchnorm_forward(s, false, x, gamma, beta, &mut nan(2 * c), &mut running, &mut y_eval);
        crate::cpu::batchnorm::batchnorm_forward(s, true, x, gamma, beta, &mut stats, &mut running, &mut y);
        crate::cpu::batchnorm::batchnorm_backward(s, x, dy, gamma, &stats, &mut dgamma, &mut dbeta, &mut dx);
        Ok((y_eval, y, stats, running, dx, dgamma, dbeta))
    }

    async fn batchnorm_eval_backward(&self, s: &BatchNormShape, dy: &[f32], gamma: &[f32], running: &[f32]) -> Result<Vec<f32>, String> {
        let mut dx = nan(s.len());
        crate::cpu::batchnorm::batchnorm_backward_eval(s, dy, gamma, running, &mut dx);
        Ok(dx)
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn batchnorm(
        &self,
        s: &BatchNormShape,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        running: &[f32],
        dy: &[f32],
    ) -> Result<BatchNormOut, String> {
        let (g, c) = (&self.gpu, s.channels);
        let (xv, gv, bv, dyv, runv) = (upload(g, x)?, upload(g, gamma)?, upload(g, beta)?, upload(g, dy)?, upload(g, running)?);
        let (y, stats, y_eval) = (poisoned(g, s.len())?, poisoned(g, 2 * c)?, poisoned(g, s.len())?);
        let (dx, dgamma, dbeta) = (poisoned(g, s.len())?, poisoned(g, c)?, poisoned(g, c)?);
        let mut ds = ops::batchnorm::batchnorm_forward(g, s, false, &xv, &gv, &bv, &stats, &runv, &y_eval).map_err(err)?;
        ds.extend(ops::batchnorm::batchnorm_forward(g, s, true, &xv, &gv, &bv, &stats, &runv, &y).map_err(err)?);
        ds.extend(ops::batchnorm::batchnorm_backward(g, s, &xv, &dyv, &gv, &stats, &dgamma, &dbeta, &dx).map_err(err)?);
        let mut o = run_and_read(g, &ds.iter().collect::<Vec<_>>(), &[&y_eval, &y, &stats, &runv, &dx, &dgamma, &dbeta]).await?.into_iter();
        let mut next = || o.next().expect("seven outputs");
        Ok((next(), next(), next(), next(), next(), next(), next()))
    }

    async fn batchnorm_eval_backward(&self, s: &BatchNormShape, dy: &[f32], gamma: &[f32], running: &[f32]) -> Result<Vec<f32>, String> {
        let g = &self.gpu;
        let (dyv, gv, runv, dx) = (upload(g, dy)?, upload(g, gamma)?, upload(g, running)?, poisoned(g, s.len())?);
        let d = ops::batchnorm::batchnorm_backward_eval(g, s, &dyv, &gv, &runv, &dx).map_err(err)?;
        Ok(run_and_read(g, &[&d], &[&dx]).await?.remove(0))
    }
}

pub async fn batchnorm_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("batchnorm");
    let shapes = [(2, 5, 9), (7, 3, 1), (8, 32, 121), (3, 64, 16), (1, 48, 13), (64, 10, 1)];
    for (row, &(n, channels, inner)) in shapes.iter().enumerate() {
        for (e, _) in engine.variants(Widen::Grid, row) {
            let s = BatchNormShape { n, channels, inner, eps: 1e-3, momentum: if row % 2 == 0 { 0.01 } else { 0.1 } };
            // Shifted and scaled inputs: the two-pass variance must not lose precision.
            let x: Vec<f32> = rng.vec(s.len()).into_iter().map(|v| 3.0 + 2.0 * v).collect();
            let (gamma, beta, dy) = (rng.vec(channels), rng.vec(channels), rng.vec(s.len()));
            let running: Vec<f32> = rng.vec(channels).into_iter().chain((0..channels).map(|_| 0.5 + rng.uniform())).collect();
            let (y_eval, y, stats, run, dx, dgamma, dbeta) = e.batchnorm(&s, &x, &gamma, &beta, &running, &dy).await?;
            let mut ref_running = running.clone();
            let (ref_eval, _) = cpu::batchnorm::batchnorm_forward(&s, false, &x, &gamma, &beta, &mut ref_running);
            let (ref_y, ref_stats) = cpu::batchnorm::batchnorm_forward(&s, true, &x, &gamma, &beta, &mut ref_running);
            let (ref_dx, ref_dg, ref_db) = cpu::batchnorm::batchnorm_backward(&s, &x, &dy, &gamma);
            let what = format!("[{n}, {channels}, {inner}]");
            rep.compare(&format!("eval forward {what}"), &y_eval, &ref_eval)?;
            rep.compare(&format!("train forward {what}"), &y, &ref_y)?;
            rep.compare(&format!("batch statistics {what}"), &stats, &ref_stats)?;
            rep.compare(&format!("running statistics {what}"), &run, &ref_running)?;
            rep.compare(&format!("backward input {what}"), &dx, &ref_dx)?;
            rep.compare(&format!("backward gamma {what}"), &dgamma, &ref_dg)?;
            rep.compare(&format!("backward beta {what}"), &dbeta, &ref_db)?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}

pub async fn batchnorm_backward_matches_finite_differences<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("batchnorm backward (finite differences)");
    let s = BatchNormShape { n: 3, channels: 4, inner: 5, eps: 1e-3, momentum: 0.1 };
    let (x, gamma, beta, r) = (rng.vec(s.len()), rng.vec(4), rng.vec(4), rng.vec(s.len()));
    let (_, _, _, _, dx, dg, db) = engine.batchnorm(&s, &x, &gamma, &beta, &[0f32; 8], &r).await?;
    let (cdx, cdg, cdb) = cpu::batchnorm::batchnorm_backward(&s, &x, &r, &gamma);
    let f = |x: &[f32], g: &[f32], b: &[f32]| project(&cpu::batchnorm::batchnorm_forward(&s, true, x, g, b, &mut [0.0; 8]).0, &r);
    for grads in [[&cdx, &cdg, &cdb], [&dx, &dg, &db]] {
        rep.check_fd("dx", &x, grads[0], 3e-3, rng, 60, |_| false, |v| f(v, &gamma, &beta))?;
        rep.check_fd("dgamma", &gamma, grads[1], 3e-3, rng, 4, |_| false, |v| f(&x, v, &beta))?;
        rep.check_fd("dbeta", &beta, grads[2], 3e-3, rng, 4, |_| false, |v| f(&x, &gamma, v))?;
    }
    rep.shapes.push("[3, 4, 5]".into());
    Ok(rep)
}

pub async fn batchnorm_eval_backward_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("batchnorm eval backward");
    for (row, &(n, channels, inner)) in [(1, 5, 9), (3, 7, 1), (2, 32, 121), (5, 3, 13)].iter().enumerate() {
        for (e, _) in engine.variants(Widen::Grid, row) {
            let s = BatchNormShape { n, channels, inner, eps: 1e-3, momentum: 0.1 };
            let (gamma, beta, dy) = (rng.vec(channels), rng.vec(channels), rng.vec(s.len()));
            let running: Vec<f32> = rng.vec(channels).into_iter().chain((0..channels).map(|_| 0.1 + rng.uniform())).collect();
            let dx = e.batchnorm_eval_backward(&s, &dy, &gamma, &running).await?;
            let what = format!("[{n}, {channels}, {inner}]");
            rep.compare(&format!("eval input gradient {what}"), &dx, &cpu::batchnorm::batchnorm_backward_eval(&s, &dy, &gamma, &running))?;
            if row == 0 {
                let x = rng.vec(s.len());
                let f = |v: &[f32]| project(&cpu::batchnorm::batchnorm_forward(&s, false, v, &gamma, &beta, &mut running.clone()).0, &dy);
                rep.check_fd("eval dx", &x, &dx, 3e-3, rng, 30, |_| false, f)?;
            }
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}
