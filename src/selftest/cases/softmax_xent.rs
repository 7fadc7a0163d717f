//! softmax cross-entropy: gradient, loss, accuracy counts and softmax against the
//! reference (logits up to x100, 1000 classes); the gradient against finite differences.

use crate::reference as cpu;
use crate::selftest::check::{Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};

pub async fn softmax_xent_matches_reference<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("softmax_xent");
    for (row, &(n, classes, scale)) in
        [(1, 10, 1.0), (7, 10, 5.0), (300, 10, 100.0), (5, 3, 1.0), (64, 1000, 3.0), (1000, 10, 1.0)].iter().enumerate()
    {
        for (e, _) in engine.variants(Widen::Grid, row) {
            let logits: Vec<f32> = rng.vec(n * classes).into_iter().map(|v| v * scale).collect();
            let labels: Vec<u32> = (0..n).map(|_| rng.below(classes) as u32).collect();
            // The metrics are accumulated twice: the sums must add up.
            let [grad, metrics, probs] = e.softmax_xent(n, classes, &logits, &labels).await?;
            let (ref_grad, ref_loss, ref_correct) = cpu::softmax_xent::softmax_xent(n, classes, &logits, &labels);
            let what = format!("[{n}, {classes}] logits x{scale}");
            rep.compare(&format!("gradient {what}"), &grad, &ref_grad)?;
            rep.compare(&format!("loss {what}"), &[metrics[0] / (2 * n) as f32], &[ref_loss])?;
            rep.compare_exact(&format!("correct and count {what}"), &metrics[1..], &[2.0 * ref_correct as f32, 2.0 * n as f32])?;
            rep.compare(&format!("softmax {what}"), &probs, &cpu::softmax_xent::softmax(n, classes, &logits))?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}

pub async fn softmax_xent_gradient_matches_finite_differences<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("softmax_xent gradient (finite differences)");
    let (n, classes) = (4, 10);
    let logits = rng.vec(n * classes);
    let labels: Vec<u32> = (0..n).map(|_| rng.below(classes) as u32).collect();
    let [grad, _, _] = engine.softmax_xent(n, classes, &logits, &labels).await?;
    let f = |l: &[f32]| cpu::softmax_xent::softmax_xent(n, classes, l, &labels).1 as f64;
    rep.check_fd("reference", &logits, &cpu::softmax_xent::softmax_xent(n, classes, &logits, &labels).0, 1e-2, rng, 40, |_| false, f)?;
    rep.check_fd(engine.name(), &logits, &grad, 1e-2, rng, 40, |_| false, f)?;
    rep.shapes.push("[4, 10]".into());
    Ok(rep)
}
