//! normalize: forward and backward against the reference, backward against finite
//! differences.

use crate::reference as cpu;
use crate::selftest::check::{project, Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};
use crate::selftest::engine::{CpuEngine, nan};
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
    /// ((x - mean) / std, the gradient dy / std).
    async fn normalize(&self, mean: f32, std: f32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String>;
}

impl Op for CpuEngine {
    async fn normalize(&self, mean: f32, std: f32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (mut y, mut dx) = (nan(x.len()), nan(x.len()));
        crate::cpu::normalize::normalize_forward(mean, std, x, &mut y);
        crate::cpu::normalize::normalize_backward(std, dy, &mut dx);
        Ok([y, dx])
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn normalize(&self, mean: f32, std: f32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, dyv, y, dx) = (upload(g, x)?, upload(g, dy)?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [
            ops::normalize::normalize_forward(g, n, mean, std, &xv, &y).map_err(err)?,
            ops::normalize::normalize_backward(g, n, mean, std, &dyv, &dx).map_err(err)?,
        ];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }
}

pub async fn normalize_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("normalize");
    // MNIST's statistics, then a negative mean and a small deviation.
    let stats = [(0.1307, 0.3081), (-1.5, 2.0), (0.5, 1e-2)];
    for (row, n) in [1usize, 255, 257, 784 * 3, 1_000_003].into_iter().enumerate() {
        let (mean, std) = stats[row % stats.len()];
        for (e, _) in engine.variants(Widen::Grid, row) {
            let (x, dy) = (rng.vec(n), rng.vec(n));
            let [y, dx] = e.normalize(mean, std, &x, &dy).await?;
            rep.compare(&format!("forward n={n} mean={mean} std={std}"), &y, &cpu::normalize::normalize_forward(mean, std, &x))?;
            rep.compare(&format!("backward n={n} std={std}"), &dx, &cpu::normalize::normalize_backward(std, &dy))?;
            rep.shapes.push(format!("n={n}"));
        }
    }
    Ok(rep)
}

pub async fn normalize_backward_matches_finite_differences<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("normalize backward (finite differences)");
    let (mean, std) = (0.1307, 0.3081);
    let (x, r) = (rng.vec(60), rng.vec(60));
    let [_, dx] = engine.normalize(mean, std, &x, &r).await?;
    let f = |xp: &[f32]| project(&cpu::normalize::normalize_forward(mean, std, xp), &r);
    rep.check_fd("reference dx", &x, &cpu::normalize::normalize_backward(std, &r), 1e-2, rng, 60, |_| false, f)?;
    rep.check_fd(&format!("{} dx", engine.name()), &x, &dx, 1e-2, rng, 60, |_| false, f)?;
    rep.shapes.push("n=60".into());
    Ok(rep)
}
