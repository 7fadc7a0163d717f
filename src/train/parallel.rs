//! Data-parallel training on the CPU engine, for several workers that each hold a copy
//! of the model (the browser's Web Workers: WebAssembly threads need a nightly
//! toolchain). Each step the coordinator splits its batch into shards, every worker
//! computes the mean gradient of its shard, the coordinator weights them by shard size
//! into the batch's gradient, and every worker applies that same gradient with the same
//! optimizer, so the copies stay identical.

use super::Trainer;
use crate::error::Error;
use crate::model::Planned;

impl Trainer {
    /// Whether this run can be split over workers: the CPU engine, and a network whose
    /// step does not depend on how its batch is cut (no batch norm, whose statistics are
    /// the whole batch's; no dropout, whose masks follow each element's place in it).
    pub fn splittable(&self) -> bool {
        self.exec.is_cpu() && !self.model.layers().iter().any(|l| matches!(l, Planned::BatchNorm { .. } | Planned::Dropout { .. }))
    }

    /// The next step's batch cut into `n` shards (sizes differ by at most one), moving the
    /// position on; None at the epoch's end.
    pub fn next_shards(&mut self, n: usize) -> Option<Vec<Vec<u32>>> {
        if self.epoch_done() {
            return None;
        }
        let b = self.config.batch;
        let batch = &self.ids[self.step_in_epoch * b..(self.step_in_epoch + 1) * b];
        self.step_in_epoch += 1;
        let n = n.clamp(1, b);
        Some((0..n).map(|i| batch[i * b / n..(i + 1) * b / n].to_vec()).collect())
    }

    /// Forward and backward over the training images `ids`: their mean gradient (flat,
    /// the model's layout), loss sum and correct count.
    pub fn shard_gradients(&mut self, ids: &[u32]) -> Result<(Vec<f32>, f64, f64), Error> {
        self.exec.shard_gradients(&mut self.model, ids)
    }

    /// One optimizer step with `grads` (flat, the model's layout) as the batch's
    /// gradient; `metrics` [loss sum, correct, examples] join the running metrics.
    pub fn apply_gradients(&mut self, grads: &[f32], metrics: [f64; 3]) -> Result<(), Error> {
        self.exec.apply_gradients(&mut self.model, grads, metrics, &self.config.optimizer, &self.rates)
    }
}

/// The batch's gradient from its shards' mean gradients, each weighted by its share of
/// the batch's images: `parts` are (gradient, images).
pub fn combine(parts: &[(&[f32], usize)]) -> Vec<f32> {
    let total: usize = parts.iter().map(|p| p.1).sum();
    let mut out = vec![0f32; parts.first().map_or(0, |p| p.0.len())];
    for (g, n) in parts {
        let w = *n as f32 / total.max(1) as f32;
        out.iter_mut().zip(g.iter()).for_each(|(o, g)| *o += w * g);
    }
    out
}
