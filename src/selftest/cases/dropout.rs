//! dropout: the masks and scaling against the reference's hash (bit for bit), the drop
//! rate against its expectation, and the backward pass against finite differences.

use crate::desc::dropout::DropoutConfig;
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
    /// (forward, backward) at training step `step`.
    async fn dropout(&self, c: &DropoutConfig, step: u32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String>;
}

impl Op for CpuEngine {
    async fn dropout(&self, c: &DropoutConfig, step: u32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (mut y, mut dx) = (nan(x.len()), nan(x.len()));
        crate::cpu::dropout::dropout_forward(c, step, x, &mut y);
        crate::cpu::dropout::dropout_backward(c, step, dy, &mut dx);
        Ok([y, dx])
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn dropout(&self, c: &DropoutConfig, step: u32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, dyv, stepv, y, dx) = (upload(g, x)?, upload(g, dy)?, upload(g, &[step])?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [
            ops::dropout::dropout_forward(g, c, n, &xv, &stepv, &y).map_err(err)?,
            ops::dropout::dropout_backward(g, c, n, &dyv, &stepv, &dx).map_err(err)?,
        ];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }
}

pub async fn dropout_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("dropout");
    let configs = [
        (DropoutConfig { rate: 0.5, unit_size: 1, seed: rng.next_u32(), training: true }, 100_003),
        (DropoutConfig { rate: 0.25, unit_size: 49, seed: rng.next_u32(), training: true }, 49 * 2000),
        (DropoutConfig { rate: 0.5, unit_size: 1, seed: rng.next_u32(), training: false }, 1001),
        (DropoutConfig { rate: 0.0, unit_size: 13, seed: 7, training: true }, 13 * 5),
    ];
    for (row, (c, n)) in configs.into_iter().enumerate() {
        for (e, _) in engine.variants(Widen::Grid, row) {
            let step = rng.next_u32() % 1000;
            let (x, dy) = (rng.vec(n), rng.vec(n));
            let [y, dx] = e.dropout(&c, step, &x, &dy).await?;
            let what = format!("rate {} unit {} training {} n={n}", c.rate, c.unit_size, c.training);
            rep.compare(&format!("forward {what}"), &y, &cpu::dropout::dropout_forward(&c, step, &x))?;
            rep.compare(&format!("backward {what}"), &dx, &cpu::dropout::dropout_backward(&c, step, &dy))?;
            // The masks must really drop about `rate` of the units.
            let units = n / c.unit_size;
            let dropped = (0..units).filter(|u| cpu::dropout::dropout_factor(&c, step, u * c.unit_size) == 0.0).count();
            let expected = if c.training { c.rate as f64 } else { 0.0 };
            let fraction = dropped as f64 / units as f64;
            if (fraction - expected).abs() > 4.0 * (expected * (1.0 - expected) / units as f64).sqrt() + 1e-9 {
                return Err(format!("dropout {what}: dropped {fraction:.4} of units, expected {expected}"));
            }
            rep.shapes.push(what);
        }
    }
    // Another step gives another mask.
    let c = DropoutConfig { rate: 0.5, unit_size: 1, seed: 1, training: true };
    let (m1, m2): (Vec<f32>, Vec<f32>) =
        (0..64).map(|i| (cpu::dropout::dropout_factor(&c, 1, i), cpu::dropout::dropout_factor(&c, 2, i))).unzip();
    if m1 == m2 {
        return Err("dropout: steps 1 and 2 gave the same mask".into());
    }
    Ok(rep)
}

pub async fn dropout_backward_matches_finite_differences<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("dropout backward (finite differences)");
    let c = DropoutConfig { rate: 0.4, unit_size: 5, seed: 11, training: true };
    let (x, r, step) = (rng.vec(40), rng.vec(40), 3);
    let [_, dx] = engine.dropout(&c, step, &x, &r).await?;
    let f = |xp: &[f32]| project(&cpu::dropout::dropout_forward(&c, step, xp), &r);
    rep.check_fd("reference dx", &x, &cpu::dropout::dropout_backward(&c, step, &r), 1e-2, rng, 40, |_| false, f)?;
    rep.check_fd(&format!("{} dx", engine.name()), &x, &dx, 1e-2, rng, 40, |_| false, f)?;
    rep.shapes.push("n=40 unit 5".into());
    Ok(rep)
}
