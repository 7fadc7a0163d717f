//! normalize: forward and backward against the reference, backward against finite
//! differences.

use crate::reference as cpu;
use crate::selftest::check::{project, Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};

pub async fn normalize_matches_reference<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
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

pub async fn normalize_backward_matches_finite_differences<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
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
