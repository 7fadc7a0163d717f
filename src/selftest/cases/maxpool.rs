//! maxpool: forward, argmax (exactly, ties included) and backward against the reference,
//! and the backward pass against finite differences.

use crate::desc::maxpool::PoolShape;
use crate::reference as cpu;
use crate::selftest::check::{project, Report, Rng};
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
    /// (y, argmax, dx): the backward pass runs on the engine's own argmax.
    async fn maxpool(&self, s: &PoolShape, x: &[f32], dy: &[f32]) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>), String>;
}

impl Op for CpuEngine {
    async fn maxpool(&self, s: &PoolShape, x: &[f32], dy: &[f32]) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>), String> {
        let (mut y, mut arg, mut dx) = (nan(s.output_len()), vec![u32::MAX; s.output_len()], nan(s.input_len()));
        crate::cpu::maxpool::maxpool_forward(s, x, &mut y, &mut arg).map_err(err)?;
        crate::cpu::maxpool::maxpool_backward(s, dy, &arg, &mut dx);
        Ok((y, arg, dx))
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn maxpool(&self, s: &PoolShape, x: &[f32], dy: &[f32]) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>), String> {
        let g = &self.gpu;
        let (xv, dyv) = (upload(g, x)?, upload(g, dy)?);
        let (y, arg, dx) = (poisoned(g, s.output_len())?, upload(g, &vec![u32::MAX; s.output_len()])?, poisoned(g, s.input_len())?);
        let fwd = ops::maxpool::maxpool_forward(g, s, &xv, &y, &arg).map_err(err)?;
        let bwd = ops::maxpool::maxpool_backward(g, s, &dyv, &arg, &dx).map_err(err)?;
        let mut out = run_and_read(g, &[&fwd, &bwd], &[&y, &dx]).await?;
        let arg: Vec<u32> = arg.read(g).await.map_err(err)?;
        let dx = out.pop().expect("dx");
        Ok((out.pop().expect("y"), arg, dx))
    }
}

pub async fn maxpool_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("maxpool");
    let shapes = [
        PoolShape { planes: 1, in_h: 28, in_w: 28 },
        PoolShape { planes: 3, in_h: 13, in_w: 13 },
        PoolShape { planes: 5, in_h: 7, in_w: 7 },
        PoolShape { planes: 2, in_h: 7, in_w: 6 },
        PoolShape { planes: 200, in_h: 24, in_w: 24 },
        PoolShape { planes: 7, in_h: 2, in_w: 3 },
    ];
    for (row, s) in shapes.iter().enumerate() {
        for (e, _) in engine.variants(Widen::Grid, row) {
            // Even rows: values on a coarse grid, so windows tie and the tie rule is tested.
            let x: Vec<f32> = rng.vec(s.input_len()).into_iter().map(|v| if row % 2 == 0 { (v * 2.0).round() / 2.0 } else { v }).collect();
            let dy = rng.vec(s.output_len());
            let (ref_y, ref_arg) = cpu::maxpool::maxpool_forward(s, &x);
            let (y, arg, dx) = e.maxpool(s, &x, &dy).await?;
            let what = format!("[{}, {}, {}]", s.planes, s.in_h, s.in_w);
            rep.compare(&format!("forward {what}"), &y, &ref_y)?;
            rep.compare_exact(&format!("argmax {what}"), &arg, &ref_arg)?;
            rep.compare(&format!("backward {what}"), &dx, &cpu::maxpool::maxpool_backward(s, &dy, &ref_arg))?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}

pub async fn maxpool_backward_matches_finite_differences<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("maxpool backward (finite differences)");
    let s = PoolShape { planes: 3, in_h: 5, in_w: 7 };
    // Distinct values 0.01 apart, so a 1e-3 nudge never changes a window's winner.
    let mut x: Vec<f32> = (0..s.input_len()).map(|i| i as f32 * 0.01).collect();
    for i in (1..x.len()).rev() {
        x.swap(i, rng.below(i + 1));
    }
    let r = rng.vec(s.output_len());
    let (_, arg) = cpu::maxpool::maxpool_forward(&s, &x);
    let (_, _, dx) = engine.maxpool(&s, &x, &r).await?;
    let f = |xp: &[f32]| project(&cpu::maxpool::maxpool_forward(&s, xp).0, &r);
    rep.check_fd("reference dx", &x, &cpu::maxpool::maxpool_backward(&s, &r, &arg), 1e-3, rng, 200, |_| false, f)?;
    rep.check_fd(&format!("{} dx", engine.name()), &x, &dx, 1e-3, rng, 200, |_| false, f)?;
    rep.shapes.push(format!("[{}, {}, {}]", s.planes, s.in_h, s.in_w));
    Ok(rep)
}
