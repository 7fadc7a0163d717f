//! The GPU side of `exec`: the data set resident as bytes, gathered into batches on the
//! GPU in the order of an index buffer, many steps per submit, metrics accumulated on
//! the GPU and read back once per chunk.

use super::exec::{metrics_of, Metrics, RunShape};
use super::{GpuModel, Graph};
use crate::data::{Split, PIXEL_SCALE, PIXEL_SHIFT};
use crate::desc::gather::{pack_bytes, GatherShape};
use crate::error::Error;
use crate::gpu::Gpu;
use crate::ops::gather::gather_batch;
use crate::ops::{Dispatch, View};

/// A split on the GPU: images as bytes packed four to a word, labels as u32.
struct GpuSplit {
    images: View,
    labels: View,
}

impl GpuSplit {
    fn upload(gpu: &Gpu, split: &Split) -> Result<GpuSplit, Error> {
        let labels: Vec<u32> = split.labels.iter().map(|&l| l as u32).collect();
        Ok(GpuSplit {
            images: View::from_slice(gpu, "images", &pack_bytes(&split.images.pixels))?,
            labels: View::from_slice(gpu, "labels", &labels)?,
        })
    }
}

/// One split prepared for gathering on the GPU: its order buffer, cursor and dispatches.
struct Feed {
    order: View,
    cursor: View,
    len: usize,
    gather: [Dispatch; 2],
}

impl Feed {
    fn new(gpu: &Gpu, data: &GpuSplit, ids: &[u32], graph: &Graph) -> Result<Feed, Error> {
        let order = View::from_slice(gpu, "order", ids)?;
        let cursor = View::new(gpu, "cursor", 1)?;
        let shape = GatherShape { batch: graph.batch, pixels: 784, count: ids.len(), scale: PIXEL_SCALE, shift: PIXEL_SHIFT };
        let gather = gather_batch(gpu, &shape, &data.images, &data.labels, &order, &cursor, &graph.input, &graph.labels)?;
        Ok(Feed { order, cursor, len: ids.len(), gather })
    }

    fn rewind(&self, gpu: &Gpu) {
        self.cursor.write(gpu, &[0u32]);
    }
}

/// A trainer's GPU graphs and feeds.
pub struct GpuExec {
    gpu: Gpu,
    train_graph: Graph,
    eval_graph: Graph,
    train: Feed,
    validation: Option<Feed>,
    test: Feed,
    /// Kept alive for the feeds' gathers.
    _data: [GpuSplit; 2],
}

impl GpuExec {
    pub fn new(m: &GpuModel, run: &RunShape) -> Result<GpuExec, Error> {
        let gpu = &m.gpu;
        let data = run.data;
        let ids: Vec<u32> = (0..run.n_train as u32).collect();
        let validation_ids: Vec<u32> = (run.n_train as u32..data.train.len() as u32).collect();
        let test_ids: Vec<u32> = (0..data.test.len() as u32).collect();
        let train_data = GpuSplit::upload(gpu, &data.train)?;
        let test_data = GpuSplit::upload(gpu, &data.test)?;
        let train_graph = Graph::new(m, run.batch, Some((&run.optimizer, run.rates)))?;
        let eval_graph = Graph::new(m, run.eval_batch, None)?;
        let train = Feed::new(gpu, &train_data, &ids, &train_graph)?;
        let validation = if validation_ids.is_empty() { None } else { Some(Feed::new(gpu, &train_data, &validation_ids, &eval_graph)?) };
        let test = Feed::new(gpu, &test_data, &test_ids, &eval_graph)?;
        Ok(GpuExec { gpu: gpu.clone(), train_graph, eval_graph, train, validation, test, _data: [train_data, test_data] })
    }

    pub fn set_order(&mut self, gpu: &Gpu, ids: &[u32]) {
        self.train.order.write(gpu, ids);
        self.train.rewind(gpu);
    }

    pub fn seek(&mut self, gpu: &Gpu, at: usize) {
        self.train.cursor.write(gpu, &[at as u32]);
    }

    pub fn submit_steps(&mut self, gpu: &Gpu, steps: usize) {
        let (train, graph) = (&self.train, &self.train_graph);
        gpu.run_pass(|pass| {
            for _ in 0..steps {
                train.gather.iter().for_each(|d| d.record(pass));
                graph.record_train_step(pass);
            }
        });
    }

    pub fn metrics_pending(&self) -> PendingRead {
        PendingRead(self.gpu.clone(), self.train_graph.metrics.clone())
    }

    pub fn validation(&mut self, gpu: &Gpu) -> Option<PendingRead> {
        Some(submit_eval(gpu, self.validation.as_ref()?, &self.eval_graph))
    }

    pub fn test(&mut self, gpu: &Gpu) -> PendingRead {
        submit_eval(gpu, &self.test, &self.eval_graph)
    }
}

/// Accumulated [loss sum, correct, examples] on the GPU, still to be read back.
pub struct PendingRead(Gpu, View);

impl PendingRead {
    /// The metrics a graph accumulates.
    pub fn of(gpu: &Gpu, graph: &Graph) -> PendingRead {
        PendingRead(gpu.clone(), graph.metrics.clone())
    }

    /// Reads the accumulated metrics and zeroes them.
    pub async fn take(self) -> Result<Metrics, Error> {
        let PendingRead(gpu, metrics) = self;
        let m: Vec<f32> = metrics.read(&gpu).await?;
        metrics.write(&gpu, &[0f32; 3]);
        Ok(metrics_of([m[0] as f64, m[1] as f64, m[2] as f64]))
    }
}

/// Queues a pass of `graph` over a whole feed, accumulating its metrics.
fn submit_eval(gpu: &Gpu, feed: &Feed, graph: &Graph) -> PendingRead {
    feed.rewind(gpu);
    gpu.run_pass(|pass| {
        for _ in 0..feed.len / graph.batch {
            feed.gather.iter().for_each(|d| d.record(pass));
            graph.record_eval(pass);
        }
    });
    PendingRead(gpu.clone(), graph.metrics.clone())
}
