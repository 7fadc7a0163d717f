//! relu: forward and backward against the reference, backward against finite differences.

use crate::reference as cpu;
use crate::selftest::check::{project, Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};

pub async fn relu_matches_reference<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
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

pub async fn relu_backward_matches_finite_differences<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
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
