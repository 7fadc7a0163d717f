//! The CPU engine's side of `exec`: the data in memory, batches gathered as the GPU
//! gathers them, each step run at once, and the shards of data-parallel steps.

use super::exec::{metrics_of, Metrics, RunShape};
use super::{CpuGraph, CpuModel};
use crate::data::{Split, PIXEL_SCALE, PIXEL_SHIFT};
use crate::desc::gather::GatherShape;
use crate::desc::optim::Optimizer;
use crate::error::Error;

/// The CPU engine predicts this many images at a time (see `CpuGraph::predict_all`).
pub const CPU_PREDICT_BATCH: usize = 64;

/// A split as the CPU engine's gather reads it: bytes, and labels widened as on the GPU.
struct CpuSplit {
    pixels: Vec<u8>,
    labels: Vec<u32>,
}

impl CpuSplit {
    fn new(split: &Split) -> CpuSplit {
        CpuSplit { pixels: split.images.pixels.clone(), labels: split.labels.iter().map(|&l| l as u32).collect() }
    }

    /// Fills the graph's input and labels with the images `ids` names, in order.
    fn gather(&self, graph: &mut CpuGraph, ids: &[u32]) {
        let shape = GatherShape { batch: ids.len(), pixels: 784, count: ids.len(), scale: PIXEL_SCALE, shift: PIXEL_SHIFT };
        let (x, labels) = graph.input_mut();
        crate::cpu::gather::gather_batch(&shape, &self.pixels, &self.labels, ids, 0, x, labels);
    }

    /// Loss and accuracy over the images `ids` names, in eval mode.
    fn evaluate(&self, graph: &mut CpuGraph, model: &mut CpuModel, ids: &[u32]) -> Result<Metrics, Error> {
        let (mut loss, mut correct) = (0.0, 0.0);
        for chunk in ids.chunks(graph.batch) {
            // A short last chunk gets a graph of its own; the full-size one is kept.
            let mut tail = if chunk.len() == graph.batch { None } else { Some(CpuGraph::new(model, chunk.len(), false)?) };
            let g = tail.as_mut().unwrap_or(graph);
            self.gather(g, chunk);
            g.forward(model);
            let (l, c) = g.loss();
            (loss, correct) = (loss + l, correct + c);
        }
        Ok(metrics_of([loss, correct, ids.len() as f64]))
    }
}

/// A trainer's CPU graphs, the data in memory, and the metrics of the steps run since
/// they were last taken [loss sum, correct, examples].
pub struct CpuExec {
    train_graph: CpuGraph,
    eval_graph: CpuGraph,
    train: CpuSplit,
    test: CpuSplit,
    validation_ids: Vec<u32>,
    metrics: [f64; 3],
    /// Graphs for the shard sizes of data-parallel steps.
    shard_graphs: Vec<CpuGraph>,
}

impl CpuExec {
    pub fn new(m: &CpuModel, run: &RunShape) -> Result<CpuExec, Error> {
        Ok(CpuExec {
            train_graph: CpuGraph::new(m, run.batch, true)?,
            eval_graph: CpuGraph::new(m, run.eval_batch, false)?,
            train: CpuSplit::new(&run.data.train),
            test: CpuSplit::new(&run.data.test),
            validation_ids: (run.n_train as u32..run.data.train.len() as u32).collect(),
            metrics: [0.0; 3],
            shard_graphs: Vec::new(),
        })
    }

    pub fn submit_steps(&mut self, m: &mut CpuModel, ids: &[u32], first: usize, steps: usize, optimizer: &Optimizer, rates: &[f32]) {
        let batch = self.train_graph.batch;
        for s in first..first + steps {
            self.train.gather(&mut self.train_graph, &ids[s * batch..(s + 1) * batch]);
            let (loss, correct) = self.train_graph.train_step(m, optimizer, rates);
            self.add_metrics([loss, correct, batch as f64]);
        }
    }

    pub fn take_metrics(&mut self) -> Metrics {
        metrics_of(std::mem::take(&mut self.metrics))
    }

    fn add_metrics(&mut self, m: [f64; 3]) {
        self.metrics = [self.metrics[0] + m[0], self.metrics[1] + m[1], self.metrics[2] + m[2]];
    }

    pub fn validation(&mut self, m: &mut CpuModel) -> Option<Result<Metrics, Error>> {
        if self.validation_ids.is_empty() {
            return None;
        }
        Some(self.train.evaluate(&mut self.eval_graph, m, &self.validation_ids))
    }

    pub fn test(&mut self, m: &mut CpuModel) -> Result<Metrics, Error> {
        let ids: Vec<u32> = (0..self.test.labels.len() as u32).collect();
        self.test.evaluate(&mut self.eval_graph, m, &ids)
    }

    /// Forward and backward over the training images `ids`: their mean gradient (flat,
    /// the model's layout), loss sum and correct count.
    pub fn shard_gradients(&mut self, m: &mut CpuModel, ids: &[u32]) -> Result<(Vec<f32>, f64, f64), Error> {
        if ids.is_empty() || ids.iter().any(|&i| i as usize >= self.train.labels.len()) {
            return Err(Error::Shape(format!("a shard of {} images that are not all training images", ids.len())));
        }
        let at = match self.shard_graphs.iter().position(|g| g.batch == ids.len()) {
            Some(at) => at,
            None => {
                self.shard_graphs.push(CpuGraph::new(m, ids.len(), true)?);
                self.shard_graphs.len() - 1
            }
        };
        let graph = &mut self.shard_graphs[at];
        self.train.gather(graph, ids);
        let (loss, correct) = graph.gradients(m);
        Ok((m.grads.clone(), loss, correct))
    }

    /// One optimizer step with `grads` (flat, the model's layout) as the batch's
    /// gradient; `metrics` [loss sum, correct, examples] join the running metrics.
    pub fn apply_gradients(
        &mut self,
        m: &mut CpuModel,
        grads: &[f32],
        metrics: [f64; 3],
        optimizer: &Optimizer,
        rates: &[f32],
    ) -> Result<(), Error> {
        if grads.len() != m.grads.len() {
            return Err(Error::Shape(format!("a gradient of {} values for {} parameters", grads.len(), m.grads.len())));
        }
        m.grads.copy_from_slice(grads);
        super::cpu::update(m, optimizer, rates, &mut None);
        self.add_metrics(metrics);
        Ok(())
    }
}
