//! maxpool: forward, argmax (exactly, ties included) and backward against the reference,
//! and the backward pass against finite differences.

use crate::desc::maxpool::PoolShape;
use crate::reference as cpu;
use crate::selftest::check::{project, Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};

pub async fn maxpool_matches_reference<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
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

pub async fn maxpool_backward_matches_finite_differences<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
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
