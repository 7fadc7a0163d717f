//! relu: forward and backward against the reference, backward against finite differences.

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
    /// (relu(x), the gradient through a forward output `y`).
    async fn relu(&self, x: &[f32], y: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String>;
}

impl Op for CpuEngine {
    async fn relu(&self, x: &[f32], y_in: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (mut y, mut dx) = (nan(x.len()), nan(x.len()));
        crate::cpu::relu::relu_forward(x, &mut y);
        crate::cpu::relu::relu_backward(y_in, dy, &mut dx);
        Ok([y, dx])
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn relu(&self, x: &[f32], y_in: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, yin, dyv, y, dx) = (upload(g, x)?, upload(g, y_in)?, upload(g, dy)?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [ops::relu::relu_forward(g, n, &xv, &y).map_err(err)?, ops::relu::relu_backward(g, n, &yin, &dyv, &dx).map_err(err)?];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }
}

pub async fn relu_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("relu");
    for (row, n) in [1usize, 255, 257, 1000, 1_000_003].into_iter().enumerate() {
        for (e, _) in engine.variants(Widen::Grid, row) {
            let (x, dy) = (rng.vec(n), rng.vec(n));
            let ref_y = cpu::relu::relu_forward(&x);
            let [y, dx] = e.relu(&x, &ref_y, &dy).await?;
            rep.compare(&format!("forward n={n}"), &y, &ref_y)?;
            rep.compare(&format!("backward n={n}"), &dx, &cpu::relu::relu_backward(&ref_y, &dy))?;
            rep.shapes.push(format!("n={n}"));
        }
    }
    Ok(rep)
}

pub async fn relu_backward_matches_finite_differences<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("relu backward (finite differences)");
    let (x, r) = (rng.vec(60), rng.vec(60));
    let y = cpu::relu::relu_forward(&x);
    let [_, dx] = engine.relu(&x, &y, &r).await?;
    let near_kink = |i: usize| x[i].abs() < 0.02;
    let f = |xp: &[f32]| project(&cpu::relu::relu_forward(xp), &r);
    rep.check_fd("reference dx", &x, &cpu::relu::relu_backward(&y, &r), 1e-2, rng, 60, near_kink, f)?;
    rep.check_fd(&format!("{} dx", engine.name()), &x, &dx, 1e-2, rng, 60, near_kink, f)?;
    rep.shapes.push("n=60".into());
    Ok(rep)
}
