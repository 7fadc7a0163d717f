//! softmax cross-entropy: gradient, loss, accuracy counts and softmax against the
//! reference (logits up to x100, 1000 classes); the gradient against finite differences.

use crate::reference as cpu;
use crate::selftest::check::{Report, Rng};
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
    /// (logit gradient, metrics [loss sum, correct, rows] after accumulating twice, softmax).
    async fn softmax_xent(&self, n: usize, classes: usize, logits: &[f32], labels: &[u32]) -> Result<[Vec<f32>; 3], String>;
}

impl Op for CpuEngine {
    async fn softmax_xent(&self, n: usize, classes: usize, logits: &[f32], labels: &[u32]) -> Result<[Vec<f32>; 3], String> {
        let (mut grad, mut loss, mut correct, mut probs) = (nan(n * classes), nan(n), nan(n), nan(n * classes));
        crate::cpu::softmax_xent::softmax_xent(n, classes, logits, labels, &mut grad, &mut loss, &mut correct);
        crate::cpu::softmax_xent::softmax(n, classes, logits, &mut probs);
        // The trainer accumulates a batch's sums the same way (train::CpuExec).
        let (l, c): (f32, f32) = (loss.iter().sum(), correct.iter().sum());
        Ok([grad, vec![2.0 * l, 2.0 * c, 2.0 * n as f32], probs])
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn softmax_xent(&self, n: usize, classes: usize, logits: &[f32], labels: &[u32]) -> Result<[Vec<f32>; 3], String> {
        let g = &self.gpu;
        let (lv, labv, metrics) = (upload(g, logits)?, upload(g, labels)?, upload(g, &[0f32; 3])?);
        let (grad, loss, correct, probs) = (poisoned(g, n * classes)?, poisoned(g, n)?, poisoned(g, n)?, poisoned(g, n * classes)?);
        let x = ops::softmax_xent::softmax_xent(g, n, classes, &lv, &labv, &grad, &loss, &correct).map_err(err)?;
        let acc = ops::softmax_xent::accumulate_metrics(g, n, &loss, &correct, &metrics).map_err(err)?;
        let sm = ops::softmax_xent::softmax(g, n, classes, &lv, &probs).map_err(err)?;
        Ok(run_and_read(g, &[&x, &acc, &acc, &sm], &[&grad, &metrics, &probs]).await?.try_into().expect("three outputs"))
    }
}

pub async fn softmax_xent_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
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

pub async fn softmax_xent_gradient_matches_finite_differences<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
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
