//! Training, written once over the engine seam: the epoch's shuffle, the step count, the
//! metrics and the divergence check live here; the engines differ only in how a chunk of
//! steps runs. On the GPU the data set is resident as bytes, each epoch's order is an
//! index buffer, batches are gathered on the GPU, many steps go in one submit, and
//! loss/accuracy are accumulated on the GPU and read back once per chunk. On the CPU
//! engine the same batches are gathered from memory and each step runs at once.

pub mod checkpoint;
pub mod parallel;

use crate::data::{GpuSplit, Mnist, Split};
use crate::error::Error;
use crate::gpu::Gpu;
use crate::model::{CpuGraph, CpuModel, Graph, Net, Spec};
use crate::ops::gather::{gather_batch, GatherShape};
use crate::ops::optim::{rate_at, Optimizer, Schedule};
use crate::ops::{Dispatch, View};
use crate::rng::Rng;

pub use crate::data::{PIXEL_SCALE, PIXEL_SHIFT};
/// Evaluation batches are at most this large (and divide the test and validation sets).
pub const MAX_EVAL_BATCH: usize = 500;

/// How to train: the spec's recipe unless overridden.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub batch: usize,
    pub epochs: usize,
    pub seed: u64,
    /// Fraction of the training images held out for validation.
    pub validation_split: f32,
}

impl TrainConfig {
    pub fn from_spec(spec: &Spec, seed: u64) -> TrainConfig {
        TrainConfig {
            optimizer: spec.optimizer,
            schedule: spec.schedule,
            batch: spec.batch,
            epochs: spec.epochs,
            seed,
            validation_split: spec.validation_split,
        }
    }
}

/// Loss and accuracy over some examples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    pub loss: f64,
    pub accuracy: f64,
    pub examples: usize,
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

/// How the engine under a trainer runs steps and evaluations.
// One value per trainer or session, never in a collection: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Exec {
    Gpu { train_graph: Graph, eval_graph: Graph, train: Feed, validation: Option<Feed>, test: Feed, _data: [GpuSplit; 2] },
    Cpu(CpuExec),
}

/// The CPU engine's side: its graphs, the data in memory, and the metrics of the steps
/// run since they were last taken [loss sum, correct, examples].
struct CpuExec {
    train_graph: CpuGraph,
    eval_graph: CpuGraph,
    train: CpuSplit,
    test: CpuSplit,
    validation_ids: Vec<u32>,
    metrics: [f64; 3],
    /// Graphs for the shard sizes of data-parallel steps (`parallel`).
    shard_graphs: Vec<CpuGraph>,
}

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

/// A network with its engine's training and evaluation graphs and the data.
pub struct Trainer {
    pub model: Net,
    pub config: TrainConfig,
    /// The learning rate of each step of the run (`Schedule::rates`).
    pub rates: Vec<f32>,
    exec: Exec,
    /// The training order of the current epoch.
    ids: Vec<u32>,
    rng: Rng,
    /// Epochs begun, and steps taken in the current one.
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub steps_per_epoch: usize,
}

impl Trainer {
    /// Prepares every graph and puts the data where the engine reads it. The training set
    /// is split into training and validation (the last `validation_split` of it, before
    /// shuffling).
    pub fn new(model: Net, config: TrainConfig, data: &Mnist) -> Result<Trainer, Error> {
        let n = data.train.len();
        let n_val = (n as f64 * config.validation_split as f64).round() as usize;
        let n_train = n - n_val;
        if config.batch == 0 || config.batch > n_train {
            return Err(Error::Shape(format!("batch size {} must be between 1 and the {n_train} training images", config.batch)));
        }
        let eval_batch = (1..=MAX_EVAL_BATCH).rev().find(|d| data.test.len().is_multiple_of(*d) && n_val.is_multiple_of(*d)).unwrap_or(1);
        let ids: Vec<u32> = (0..n_train as u32).collect();
        let validation_ids: Vec<u32> = (n_train as u32..n as u32).collect();
        let test_ids: Vec<u32> = (0..data.test.len() as u32).collect();
        let steps_per_epoch = n_train / config.batch;
        let rates = config.schedule.rates(config.optimizer.lr(), steps_per_epoch, config.epochs);
        let exec = match &model {
            Net::Gpu(m) => {
                let gpu = &m.gpu;
                let train_data = GpuSplit::upload(gpu, &data.train)?;
                let test_data = GpuSplit::upload(gpu, &data.test)?;
                let train_graph = Graph::new(m, config.batch, Some((&config.optimizer, &rates)))?;
                let eval_graph = Graph::new(m, eval_batch, None)?;
                let train = Feed::new(gpu, &train_data, &ids, &train_graph)?;
                let validation = if n_val > 0 { Some(Feed::new(gpu, &train_data, &validation_ids, &eval_graph)?) } else { None };
                let test = Feed::new(gpu, &test_data, &test_ids, &eval_graph)?;
                Exec::Gpu { train_graph, eval_graph, train, validation, test, _data: [train_data, test_data] }
            }
            Net::Cpu(m) => Exec::Cpu(CpuExec {
                train_graph: CpuGraph::new(m, config.batch, true)?,
                eval_graph: CpuGraph::new(m, eval_batch, false)?,
                train: CpuSplit::new(&data.train),
                test: CpuSplit::new(&data.test),
                validation_ids,
                metrics: [0.0; 3],
                shard_graphs: Vec::new(),
            }),
        };
        Ok(Trainer { steps_per_epoch, rates, rng: Rng::new(config.seed ^ 0xda7a), model, config, exec, ids, epoch: 0, step_in_epoch: 0 })
    }

    /// Starts an epoch: a fresh shuffle of the training order (Fisher-Yates, seeded).
    /// The last partial batch of an epoch is dropped.
    pub fn begin_epoch(&mut self) {
        for i in (1..self.ids.len()).rev() {
            self.ids.swap(i, self.rng.below(i + 1));
        }
        if let (Exec::Gpu { train, .. }, Net::Gpu(m)) = (&self.exec, &self.model) {
            train.order.write(&m.gpu, &self.ids);
            train.rewind(&m.gpu);
        }
        self.epoch += 1;
        self.step_in_epoch = 0;
    }

    /// Runs up to `steps` training steps (not past the epoch's end); returns their mean
    /// loss and accuracy.
    pub async fn train_steps(&mut self, steps: usize) -> Result<Metrics, Error> {
        self.submit_steps(steps);
        self.train_metrics_reader().await
    }

    /// The running half of `train_steps`: on the GPU it returns at once, with the work
    /// queued in one command buffer; on the CPU the steps have run when it returns.
    pub fn submit_steps(&mut self, steps: usize) -> usize {
        let steps = steps.min(self.steps_per_epoch - self.step_in_epoch);
        let batch = self.config.batch;
        match (&mut self.exec, &mut self.model) {
            (Exec::Gpu { train, train_graph, .. }, Net::Gpu(m)) => {
                m.gpu.run_pass(|pass| {
                    for _ in 0..steps {
                        train.gather.iter().for_each(|d| d.record(pass));
                        train_graph.record_train_step(pass);
                    }
                });
            }
            (Exec::Cpu(cpu), Net::Cpu(m)) => {
                for s in self.step_in_epoch..self.step_in_epoch + steps {
                    cpu.train.gather(&mut cpu.train_graph, &self.ids[s * batch..(s + 1) * batch]);
                    let (loss, correct) = cpu.train_graph.train_step(m, &self.config.optimizer, &self.rates);
                    cpu.metrics = [cpu.metrics[0] + loss, cpu.metrics[1] + correct, cpu.metrics[2] + batch as f64];
                }
            }
            _ => unreachable!("a trainer's executor is built for its network's engine"),
        }
        self.step_in_epoch += steps;
        steps
    }

    /// A future that reads (and zeroes) the training metrics without borrowing the
    /// trainer, so other work can use it meanwhile (the browser's event loop). A
    /// non-finite loss is an error that names the step and the learning rate.
    pub fn train_metrics_reader(&mut self) -> impl std::future::Future<Output = Result<Metrics, Error>> + 'static {
        let pending = match &mut self.exec {
            Exec::Gpu { train_graph, .. } => Pending::Gpu(self.model.as_gpu().expect("GPU model").gpu.clone(), train_graph.metrics.clone()),
            Exec::Cpu(cpu) => Pending::Ready(metrics_of(std::mem::take(&mut cpu.metrics))),
        };
        let (lr, epoch, step) = (rate_at(&self.rates, self.steps_taken() as u32), self.epoch, self.step_in_epoch);
        async move {
            let m = pending.take().await?;
            if !m.loss.is_finite() {
                return Err(Error::Diverged(format!(
                    "the training loss became {} by epoch {epoch} step {step}, most likely from a learning rate too high (now {lr}); lower it and start again",
                    m.loss
                )));
            }
            Ok(m)
        }
    }

    /// Moves a fresh trainer to `step` of epoch `epoch` (a resumed checkpoint): the
    /// epochs' shuffles are replayed from the seed, so the order is the one it had.
    pub fn seek(&mut self, epoch: usize, step: usize) -> Result<(), Error> {
        if self.epoch != 0 || step > self.steps_per_epoch || (epoch == 0 && step > 0) {
            return Err(Error::Shape(format!(
                "cannot resume at epoch {epoch} step {step}: an epoch here has {} steps (was it trained on other data, or another --train-limit?)",
                self.steps_per_epoch
            )));
        }
        for _ in 0..epoch {
            self.begin_epoch();
        }
        self.step_in_epoch = step;
        if let (Exec::Gpu { train, .. }, Net::Gpu(m)) = (&self.exec, &self.model) {
            train.cursor.write(&m.gpu, &[(step * self.config.batch) as u32]);
        }
        Ok(())
    }

    /// Steps taken since training began: the index of the next step's learning rate.
    pub fn steps_taken(&self) -> usize {
        self.epoch.saturating_sub(1) * self.steps_per_epoch + self.step_in_epoch
    }

    /// Whether the current epoch has no steps left.
    pub fn epoch_done(&self) -> bool {
        self.step_in_epoch >= self.steps_per_epoch
    }

    /// Loss and accuracy on the whole test set.
    pub async fn evaluate_test(&mut self) -> Result<Metrics, Error> {
        self.test_reader().await
    }

    /// Loss and accuracy on the validation split, if there is one.
    pub async fn evaluate_validation(&mut self) -> Result<Option<Metrics>, Error> {
        let pending = match (&mut self.exec, &mut self.model) {
            (Exec::Gpu { validation: None, .. }, _) => return Ok(None),
            (Exec::Cpu(cpu), _) if cpu.validation_ids.is_empty() => return Ok(None),
            (Exec::Gpu { validation: Some(v), eval_graph, .. }, Net::Gpu(m)) => submit_eval(&m.gpu, v, eval_graph),
            (Exec::Cpu(cpu), Net::Cpu(m)) => Pending::Ready(cpu.train.evaluate(&mut cpu.eval_graph, m, &cpu.validation_ids)?),
            _ => unreachable!("a trainer's executor is built for its network's engine"),
        };
        Ok(Some(pending.take().await?))
    }

    /// Runs (GPU: queues) a pass over the test set and returns a reader of its metrics
    /// that does not borrow the trainer.
    pub fn test_reader(&mut self) -> impl std::future::Future<Output = Result<Metrics, Error>> + 'static {
        let pending = match (&mut self.exec, &mut self.model) {
            (Exec::Gpu { test, eval_graph, .. }, Net::Gpu(m)) => submit_eval(&m.gpu, test, eval_graph),
            (Exec::Cpu(cpu), Net::Cpu(m)) => {
                let ids: Vec<u32> = (0..cpu.test.labels.len() as u32).collect();
                match cpu.test.evaluate(&mut cpu.eval_graph, m, &ids) {
                    Ok(metrics) => Pending::Ready(metrics),
                    Err(e) => Pending::Failed(e),
                }
            }
            _ => unreachable!("a trainer's executor is built for its network's engine"),
        };
        pending.take()
    }
}

/// Metrics being computed: on the GPU, a buffer still to read back; on the CPU, done.
// One value per trainer or session, never in a collection: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Pending {
    Gpu(Gpu, View),
    Ready(Metrics),
    Failed(Error),
}

impl Pending {
    async fn take(self) -> Result<Metrics, Error> {
        match self {
            Pending::Gpu(gpu, metrics) => take_metrics(&gpu, &metrics).await,
            Pending::Ready(m) => Ok(m),
            Pending::Failed(e) => Err(e),
        }
    }
}

/// Queues a pass of `graph` over a whole feed, accumulating its metrics.
fn submit_eval(gpu: &Gpu, feed: &Feed, graph: &Graph) -> Pending {
    feed.rewind(gpu);
    gpu.run_pass(|pass| {
        for _ in 0..feed.len / graph.batch {
            feed.gather.iter().for_each(|d| d.record(pass));
            graph.record_eval(pass);
        }
    });
    Pending::Gpu(gpu.clone(), graph.metrics.clone())
}

/// Mean loss and accuracy from [loss sum, correct, examples].
fn metrics_of(m: [f64; 3]) -> Metrics {
    let n = m[2].max(1.0);
    Metrics { loss: m[0] / n, accuracy: m[1] / n, examples: m[2] as usize }
}

/// Reads the accumulated [loss sum, correct, examples] and zeroes them.
async fn take_metrics(gpu: &Gpu, metrics: &View) -> Result<Metrics, Error> {
    let m: Vec<f32> = metrics.read(gpu).await?;
    metrics.write(gpu, &[0f32; 3]);
    Ok(metrics_of([m[0] as f64, m[1] as f64, m[2] as f64]))
}

/// The CPU engine predicts this many images at a time (see `CpuGraph::predict_all`).
const CPU_PREDICT_BATCH: usize = 64;

/// Prediction at one batch size on either engine: a prepared graph, reused per call.
pub enum Predictor {
    Gpu(Graph),
    Cpu(CpuGraph),
}

impl Predictor {
    pub fn new(net: &Net, batch: usize) -> Result<Predictor, Error> {
        Ok(match net {
            Net::Gpu(m) => Predictor::Gpu(Graph::new(m, batch, None)?),
            Net::Cpu(m) => Predictor::Cpu(CpuGraph::new(m, batch.min(CPU_PREDICT_BATCH), false)?),
        })
    }

    /// Class probabilities [batch, 10] of `images` (normalized, [batch, 784]).
    pub async fn run(&mut self, net: &mut Net, images: &[f32]) -> Result<Vec<f32>, Error> {
        match (self, net) {
            (Predictor::Gpu(graph), Net::Gpu(m)) => predict(&m.gpu, graph, images).await,
            (Predictor::Cpu(graph), Net::Cpu(m)) => graph.predict_all(m, images),
            _ => Err(Error::Shape("a predictor runs on the engine it was made for".into())),
        }
    }
}

/// Class probabilities of `images` (normalized, [n, 784]) with a prepared prediction
/// graph of batch n.
pub async fn predict(gpu: &Gpu, graph: &Graph, images: &[f32]) -> Result<Vec<f32>, Error> {
    graph.input.expect("images", images.len())?;
    graph.input.write(gpu, images);
    gpu.run_pass(|pass| graph.record_predict(pass));
    graph.probs.read(gpu).await
}
