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
/// the batch's images: `parts` are (gradient, images), in the batch's order. They are
/// added pairwise, halves first, as the CPU engine sums a batch (`cpu::par::sum_over_batch`):
/// for a batch of more than `cpu::par::LEAF` images cut by `next_shards` into 2 equal
/// shards (or 4, of halves of more than `LEAF`), each shard is a node of that sum, its
/// mean scales by 1/2 (1/4) exactly, and the result is one worker's gradient to the last
/// bit (short of underflow to subnormals).
pub fn combine(parts: &[(&[f32], usize)]) -> Vec<f32> {
    weighted_sum(parts, parts.iter().map(|p| p.1).sum::<usize>().max(1) as f32)
}

/// Each part's gradient times its images over `total`, the halves' sums added.
fn weighted_sum(parts: &[(&[f32], usize)], total: f32) -> Vec<f32> {
    match parts {
        [] => Vec::new(),
        [(g, n)] => g.iter().map(|g| *n as f32 / total * g).collect(),
        _ => {
            let (left, right) = parts.split_at(parts.len() / 2);
            let mut sum = weighted_sum(left, total);
            sum.iter_mut().zip(weighted_sum(right, total)).for_each(|(a, b)| *a += b);
            sum
        }
    }
}
