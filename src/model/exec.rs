//! How a network's engine runs training steps, evaluations and predictions: the part of
//! the facade the trainer holds (`Exec`) beside its `Net`. On the GPU the data set is
//! resident as bytes, each epoch's order is an index buffer, batches are gathered on the
//! GPU, many steps go in one submit, and loss/accuracy are accumulated on the GPU and
//! read back once per chunk (`exec_gpu`). On the CPU engine the same batches are gathered
//! from memory and each step runs at once (`exec_cpu`).

use std::future::Future;

use super::exec_cpu::{CpuExec, CPU_PREDICT_BATCH};
#[cfg(feature = "gpu")]
use super::exec_gpu::{self, GpuExec};
use super::{CpuGraph, Net};
use crate::data::Mnist;
use crate::desc::optim::Optimizer;
use crate::error::Error;

/// Loss and accuracy over some examples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    pub loss: f64,
    pub accuracy: f64,
    pub examples: usize,
}

/// Mean loss and accuracy from [loss sum, correct, examples].
pub fn metrics_of(m: [f64; 3]) -> Metrics {
    let n = m[2].max(1.0);
    Metrics { loss: m[0] / n, accuracy: m[1] / n, examples: m[2] as usize }
}

/// What a trainer's engine needs to know of the run: the first `n_train` training images
/// train, the rest validate; `rates` is the schedule's table (`Schedule::rates`).
pub struct RunShape<'a> {
    pub data: &'a Mnist,
    pub n_train: usize,
    pub batch: usize,
    pub eval_batch: usize,
    pub optimizer: Optimizer,
    pub rates: &'a [f32],
}

/// A trainer's engine side: its graphs and the data where the engine reads it.
pub struct Exec(Inner);

// One value per trainer, never in a collection: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Inner {
    #[cfg(feature = "gpu")]
    Gpu(GpuExec),
    Cpu(CpuExec),
}

#[cfg(feature = "gpu")]
const MISMATCH: &str = "a trainer's executor is built for its network's engine";

impl Exec {
    /// Prepares the training and evaluation graphs of `net` and puts the data in place.
    pub fn new(net: &Net, run: &RunShape) -> Result<Exec, Error> {
        Ok(Exec(match net {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => Inner::Gpu(GpuExec::new(m, run)?),
            Net::Cpu(m) => Inner::Cpu(CpuExec::new(m, run)?),
        }))
    }

    /// Whether steps can be split over data-parallel workers (`train::parallel`).
    pub fn is_cpu(&self) -> bool {
        matches!(self.0, Inner::Cpu(_))
    }

    /// Sets the epoch's training order and rewinds to its start.
    pub fn set_order(&mut self, net: &Net, ids: &[u32]) {
        match (&mut self.0, net) {
            #[cfg(feature = "gpu")]
            (Inner::Gpu(g), Net::Gpu(m)) => g.set_order(&m.gpu, ids),
            // The CPU engine reads the order from the trainer at each step.
            _ => {
                let _ = ids;
            }
        }
    }

    /// Moves the position in the epoch's order to image `at` (a resumed checkpoint).
    pub fn seek(&mut self, net: &Net, at: usize) {
        match (&mut self.0, net) {
            #[cfg(feature = "gpu")]
            (Inner::Gpu(g), Net::Gpu(m)) => g.seek(&m.gpu, at),
            _ => {
                let _ = at;
            }
        }
    }

    /// Runs `steps` training steps from step `first` of the epoch's order `ids`: on the
    /// GPU queued in one command buffer (it returns at once); on the CPU they have run
    /// when it returns.
    pub fn submit_steps(&mut self, net: &mut Net, ids: &[u32], first: usize, steps: usize, optimizer: &Optimizer, rates: &[f32]) {
        match (&mut self.0, net) {
            #[cfg(feature = "gpu")]
            (Inner::Gpu(g), Net::Gpu(m)) => g.submit_steps(&m.gpu, steps),
            (Inner::Cpu(c), Net::Cpu(m)) => c.submit_steps(m, ids, first, steps, optimizer, rates),
            #[cfg(feature = "gpu")]
            _ => unreachable!("{MISMATCH}"),
        }
    }

    /// A reader of (and zeroes) the training metrics of the steps run since the last one;
    /// it borrows nothing, so other work can go on meanwhile (the browser's event loop).
    pub fn metrics_reader(&mut self) -> PendingMetrics {
        match &mut self.0 {
            #[cfg(feature = "gpu")]
            Inner::Gpu(g) => PendingMetrics(Pending::Gpu(g.metrics_pending())),
            Inner::Cpu(c) => PendingMetrics(Pending::Ready(c.take_metrics())),
        }
    }

    /// Queues (GPU) or runs (CPU) a pass over the validation split, if there is one.
    pub fn validation(&mut self, net: &mut Net) -> Option<PendingMetrics> {
        Some(PendingMetrics(match (&mut self.0, net) {
            #[cfg(feature = "gpu")]
            (Inner::Gpu(g), Net::Gpu(m)) => Pending::Gpu(g.validation(&m.gpu)?),
            (Inner::Cpu(c), Net::Cpu(m)) => Pending::from(c.validation(m)?),
            #[cfg(feature = "gpu")]
            _ => unreachable!("{MISMATCH}"),
        }))
    }

    /// Queues (GPU) or runs (CPU) a pass over the test set.
    pub fn test(&mut self, net: &mut Net) -> PendingMetrics {
        PendingMetrics(match (&mut self.0, net) {
            #[cfg(feature = "gpu")]
            (Inner::Gpu(g), Net::Gpu(m)) => Pending::Gpu(g.test(&m.gpu)),
            (Inner::Cpu(c), Net::Cpu(m)) => Pending::from(c.test(m)),
            #[cfg(feature = "gpu")]
            _ => unreachable!("{MISMATCH}"),
        })
    }

    /// Data-parallel steps (CPU engine): forward and backward over the training images
    /// `ids`, giving their mean gradient (flat, the model's layout), loss sum and correct
    /// count.
    pub fn shard_gradients(&mut self, net: &mut Net, ids: &[u32]) -> Result<(Vec<f32>, f64, f64), Error> {
        match (&mut self.0, net) {
            (Inner::Cpu(c), Net::Cpu(m)) => c.shard_gradients(m, ids),
            #[allow(unreachable_patterns)]
            _ => Err(not_parallel()),
        }
    }

    /// Data-parallel steps (CPU engine): one optimizer step with `grads` as the batch's
    /// gradient; `metrics` [loss sum, correct, examples] join the running metrics.
    pub fn apply_gradients(
        &mut self,
        net: &mut Net,
        grads: &[f32],
        metrics: [f64; 3],
        optimizer: &Optimizer,
        rates: &[f32],
    ) -> Result<(), Error> {
        match (&mut self.0, net) {
            (Inner::Cpu(c), Net::Cpu(m)) => c.apply_gradients(m, grads, metrics, optimizer, rates),
            #[allow(unreachable_patterns)]
            _ => Err(not_parallel()),
        }
    }
}

fn not_parallel() -> Error {
    Error::Shape("data-parallel training runs on the CPU engine".into())
}

/// Metrics being computed: on the GPU, a buffer still to read back; on the CPU, done.
pub struct PendingMetrics(Pending);

enum Pending {
    #[cfg(feature = "gpu")]
    Gpu(exec_gpu::PendingRead),
    Ready(Metrics),
    Failed(Error),
}

impl From<Result<Metrics, Error>> for Pending {
    fn from(r: Result<Metrics, Error>) -> Pending {
        match r {
            Ok(m) => Pending::Ready(m),
            Err(e) => Pending::Failed(e),
        }
    }
}

impl PendingMetrics {
    /// The metrics, once the engine has them.
    pub async fn take(self) -> Result<Metrics, Error> {
        match self.0 {
            #[cfg(feature = "gpu")]
            Pending::Gpu(p) => p.take().await,
            Pending::Ready(m) => Ok(m),
            Pending::Failed(e) => Err(e),
        }
    }
}

/// Prediction at one batch size on either engine: a prepared graph, reused per call.
pub struct Predictor(PredictorInner);

enum PredictorInner {
    #[cfg(feature = "gpu")]
    Gpu(super::Graph),
    Cpu(CpuGraph),
}

impl Predictor {
    pub fn new(net: &Net, batch: usize) -> Result<Predictor, Error> {
        Ok(Predictor(match net {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => PredictorInner::Gpu(super::Graph::new(m, batch, None)?),
            Net::Cpu(m) => PredictorInner::Cpu(CpuGraph::new(m, batch.min(CPU_PREDICT_BATCH), false)?),
        }))
    }

    /// Class probabilities [n, 10] of `images` (normalized, [n, 784]; n the predictor's
    /// batch on the GPU, any n on the CPU engine).
    pub async fn run(&mut self, net: &mut Net, images: &[f32]) -> Result<Vec<f32>, Error> {
        self.submit(net, images).await
    }

    /// `run` in two halves: the CPU engine predicts at once, the GPU queues the work; the
    /// future borrows nothing (the page awaits it without holding the model).
    pub fn submit(&mut self, net: &mut Net, images: &[f32]) -> impl Future<Output = Result<Vec<f32>, Error>> + 'static {
        let result: Result<Vec<f32>, Error> = match (&mut self.0, net) {
            #[cfg(feature = "gpu")]
            (PredictorInner::Gpu(graph), Net::Gpu(m)) => {
                let read = graph.predict(&m.gpu, images);
                return Deferred::Gpu(Box::pin(read));
            }
            (PredictorInner::Cpu(graph), Net::Cpu(m)) => graph.predict_all(m, images),
            #[cfg(feature = "gpu")]
            _ => Err(Error::Shape("a predictor runs on the engine it was made for".into())),
        };
        Deferred::Ready(Some(result))
    }
}

/// Every layer's output of a forward pass, in the plan's order (`Planned::kind` names
/// them `layer{i}.{kind}`), and the class probabilities.
#[derive(Clone, Debug, Default)]
pub struct Activations {
    pub layers: Vec<Vec<f32>>,
    pub probs: Vec<f32>,
}

impl Predictor {
    /// Every layer's output for `images` (exactly the predictor's batch), and the
    /// probabilities: the views of what each layer sees. The future borrows nothing.
    pub fn submit_activations(&mut self, net: &mut Net, images: &[f32]) -> impl Future<Output = Result<Activations, Error>> + 'static {
        let ready = match (&mut self.0, net) {
            #[cfg(feature = "gpu")]
            (PredictorInner::Gpu(graph), Net::Gpu(m)) => {
                let (gpu, views) = (m.gpu.clone(), graph.activations.clone());
                let queued = graph.predict(&m.gpu, images);
                return Deferred::Gpu(Box::pin(async move {
                    let probs = queued.await?;
                    let mut layers = Vec::with_capacity(views.len());
                    for v in &views {
                        layers.push(v.read::<f32>(&gpu).await?);
                    }
                    Ok(Activations { layers, probs })
                }));
            }
            (PredictorInner::Cpu(graph), Net::Cpu(m)) if images.len() == graph.batch * 784 => {
                graph.input_mut().0.copy_from_slice(images);
                let probs = graph.predict(m).to_vec();
                Ok(Activations { layers: graph.activations().to_vec(), probs })
            }
            (PredictorInner::Cpu(graph), Net::Cpu(_)) => {
                Err(Error::Shape(format!("activations of {} values: this predictor takes {} images", images.len(), graph.batch)))
            }
            #[cfg(feature = "gpu")]
            _ => Err(Error::Shape("a predictor runs on the engine it was made for".into())),
        };
        Deferred::Ready(Some(ready))
    }
}

/// What `Predictor::submit` and `submit_activations` give: on the GPU a readback still
/// to come, on the CPU engine a result at hand.
pub(super) enum Deferred<T> {
    #[cfg(feature = "gpu")]
    Gpu(std::pin::Pin<Box<dyn Future<Output = Result<T, Error>>>>),
    Ready(Option<Result<T, Error>>),
}

impl<T> Future for Deferred<T> {
    type Output = Result<T, Error>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            #[cfg(feature = "gpu")]
            Deferred::Gpu(f) => f.as_mut().poll(cx),
            Deferred::Ready(r) => {
                let _ = cx;
                std::task::Poll::Ready(r.take().expect("a deferred result is taken once"))
            }
        }
    }
}

// Nothing in it relies on its address: the future is pinned in its box, and a ready
// result is moved out by value.
impl<T> Unpin for Deferred<T> {}

/// Training steps on batches the caller makes, at one learning rate (fine-tuning on a
/// person's own digits): a graph of `batch` on the network's engine.
pub struct BatchTrainer {
    inner: BatchInner,
    batch: usize,
    optimizer: Optimizer,
    /// The last step's [loss sum, correct, examples] (CPU engine).
    last: [f64; 3],
}

enum BatchInner {
    #[cfg(feature = "gpu")]
    Gpu(super::Graph, crate::gpu::Gpu),
    Cpu(CpuGraph),
}

impl BatchTrainer {
    pub fn new(net: &Net, batch: usize, optimizer: Optimizer) -> Result<BatchTrainer, Error> {
        let inner = match net {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => BatchInner::Gpu(super::Graph::new(m, batch, Some((&optimizer, &[optimizer.lr()])))?, m.gpu.clone()),
            Net::Cpu(m) => BatchInner::Cpu(CpuGraph::new(m, batch, true)?),
        };
        Ok(BatchTrainer { inner, batch, optimizer, last: [0.0; 3] })
    }

    /// Images per step.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// One step on `x` (normalized, [batch, 784]) and `labels` ([batch]): queued on the
    /// GPU, run at once on the CPU engine.
    pub fn step(&mut self, net: &mut Net, x: &[f32], labels: &[u32]) -> Result<(), Error> {
        if x.len() != self.batch * 784 || labels.len() != self.batch {
            return Err(Error::Shape(format!("a step of {} images takes {} pixels and labels", self.batch, self.batch * 784)));
        }
        match (&mut self.inner, net) {
            #[cfg(feature = "gpu")]
            (BatchInner::Gpu(graph, _), Net::Gpu(m)) => {
                graph.input.write(&m.gpu, x);
                graph.labels.write(&m.gpu, labels);
                graph.metrics.write(&m.gpu, &[0f32; 3]);
                m.gpu.run_pass(|pass| graph.record_train_step(pass));
            }
            (BatchInner::Cpu(graph), Net::Cpu(m)) => {
                let (input, y) = graph.input_mut();
                input.copy_from_slice(x);
                y.copy_from_slice(labels);
                let (loss, correct) = graph.train_step(m, &self.optimizer, &[self.optimizer.lr()]);
                self.last = [loss, correct, self.batch as f64];
            }
            #[cfg(feature = "gpu")]
            _ => return Err(Error::Shape(MISMATCH.into())),
        }
        Ok(())
    }

    /// The metrics of the last step's batch.
    pub fn last_metrics(&self) -> PendingMetrics {
        match &self.inner {
            #[cfg(feature = "gpu")]
            BatchInner::Gpu(graph, gpu) => PendingMetrics(Pending::Gpu(exec_gpu::PendingRead::of(gpu, graph))),
            BatchInner::Cpu(_) => PendingMetrics(Pending::Ready(metrics_of(self.last))),
        }
    }
}
