//! The training loop on the GPU: the data set resident as bytes, each epoch's shuffled
//! order as an index buffer, batches gathered on the GPU, many steps per submit, and
//! loss/accuracy accumulated on the GPU and read back once per chunk of steps.

use crate::data::{GpuSplit, Mnist};
use crate::error::Error;
use crate::gpu::Gpu;
use crate::model::{Graph, Model, Spec};
use crate::ops::gather::{gather_batch, GatherShape};
use crate::ops::optim::Optimizer;
use crate::ops::{Dispatch, View};
use crate::selftest::Rng;

/// Pixels are scaled to [0, 1], as torchvision's ToTensor and the Keras tutorial do.
pub const PIXEL_SCALE: f32 = 1.0 / 255.0;
pub const PIXEL_SHIFT: f32 = 0.0;
/// Evaluation batches are at most this large (and divide the test and validation sets).
pub const MAX_EVAL_BATCH: usize = 500;

/// How to train: the spec's recipe unless overridden.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    pub optimizer: Optimizer,
    pub batch: usize,
    pub epochs: usize,
    pub seed: u64,
    /// Fraction of the training images held out for validation.
    pub validation_split: f32,
}

impl TrainConfig {
    pub fn from_spec(spec: &Spec, seed: u64) -> TrainConfig {
        TrainConfig { optimizer: spec.optimizer, batch: spec.batch, epochs: spec.epochs, seed, validation_split: spec.validation_split }
    }
}

/// Loss and accuracy over some examples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    pub loss: f64,
    pub accuracy: f64,
    pub examples: usize,
}

/// One split prepared for gathering: its order buffer, cursor and gather dispatches.
struct Feed {
    order: View,
    cursor: View,
    ids: Vec<u32>,
    gather: [Dispatch; 2],
}

impl Feed {
    fn new(gpu: &Gpu, data: &GpuSplit, ids: Vec<u32>, graph: &Graph) -> Result<Feed, Error> {
        let order = View::from_slice(gpu, "order", &ids)?;
        let cursor = View::new(gpu, "cursor", 1)?;
        let shape = GatherShape { batch: graph.batch, pixels: 784, count: ids.len(), scale: PIXEL_SCALE, shift: PIXEL_SHIFT };
        let gather = gather_batch(gpu, &shape, &data.images, &data.labels, &order, &cursor, &graph.input, &graph.labels)?;
        Ok(Feed { order, cursor, ids, gather })
    }

    fn rewind(&self, gpu: &Gpu) {
        self.cursor.write(gpu, &[0u32]);
    }
}

/// A model with its training and evaluation graphs and data on the GPU.
pub struct Trainer {
    pub model: Model,
    pub config: TrainConfig,
    train_graph: Graph,
    eval_graph: Graph,
    train: Feed,
    validation: Option<Feed>,
    test: Feed,
    _data: [GpuSplit; 2],
    rng: Rng,
    /// Epochs begun, and steps taken in the current one.
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub steps_per_epoch: usize,
}

impl Trainer {
    /// Uploads the data and prepares every graph. The training set is split into
    /// training and validation (the last `validation_split` of it, before shuffling).
    pub fn new(gpu: &Gpu, model: Model, config: TrainConfig, data: &Mnist) -> Result<Trainer, Error> {
        let n = data.train.len();
        let n_val = (n as f64 * config.validation_split as f64).round() as usize;
        let n_train = n - n_val;
        if config.batch == 0 || config.batch > n_train {
            return Err(Error::Shape(format!("batch size {} must be between 1 and the {n_train} training images", config.batch)));
        }
        let train_data = GpuSplit::upload(gpu, &data.train)?;
        let test_data = GpuSplit::upload(gpu, &data.test)?;
        let train_graph = Graph::new(&model, config.batch, Some(&config.optimizer))?;
        let eval_batch = (1..=MAX_EVAL_BATCH).rev().find(|d| data.test.len().is_multiple_of(*d) && n_val.is_multiple_of(*d)).unwrap_or(1);
        let eval_graph = Graph::new(&model, eval_batch, None)?;
        let train = Feed::new(gpu, &train_data, (0..n_train as u32).collect(), &train_graph)?;
        let validation =
            if n_val > 0 { Some(Feed::new(gpu, &train_data, (n_train as u32..n as u32).collect(), &eval_graph)?) } else { None };
        let test = Feed::new(gpu, &test_data, (0..data.test.len() as u32).collect(), &eval_graph)?;
        Ok(Trainer {
            steps_per_epoch: n_train / config.batch,
            rng: Rng::new(config.seed ^ 0xda7a),
            model,
            config,
            train_graph,
            eval_graph,
            train,
            validation,
            test,
            _data: [train_data, test_data],
            epoch: 0,
            step_in_epoch: 0,
        })
    }

    /// Starts an epoch: a fresh shuffle of the training order (Fisher-Yates, seeded).
    /// The last partial batch of an epoch is dropped.
    pub fn begin_epoch(&mut self) {
        let ids = &mut self.train.ids;
        for i in (1..ids.len()).rev() {
            ids.swap(i, self.rng.below(i + 1));
        }
        self.train.order.write(&self.model.gpu, ids);
        self.train.rewind(&self.model.gpu);
        self.epoch += 1;
        self.step_in_epoch = 0;
    }

    /// Records and submits up to `steps` training steps (not past the epoch's end) in
    /// one command buffer; returns their mean loss and accuracy.
    pub async fn train_steps(&mut self, steps: usize) -> Result<Metrics, Error> {
        self.submit_steps(steps);
        self.take_train_metrics().await
    }

    /// The recording half of `train_steps`: returns at once, with the work queued.
    pub fn submit_steps(&mut self, steps: usize) -> usize {
        let steps = steps.min(self.steps_per_epoch - self.step_in_epoch);
        let gpu = &self.model.gpu;
        let mut encoder = gpu.encoder();
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for _ in 0..steps {
                self.train.gather.iter().for_each(|d| d.record(&mut pass));
                self.train_graph.record_train_step(&mut pass);
            }
        }
        gpu.submit(encoder);
        self.step_in_epoch += steps;
        steps
    }

    /// A future that reads (and zeroes) the training metrics without borrowing the
    /// trainer, so other work can use it meanwhile (the browser's event loop).
    pub fn train_metrics_reader(&self) -> impl std::future::Future<Output = Result<Metrics, Error>> + 'static {
        let (gpu, metrics) = (self.model.gpu.clone(), self.train_graph.metrics.clone());
        let (lr, epoch, step) = (self.config.optimizer.lr(), self.epoch, self.step_in_epoch);
        async move {
            let m = take_metrics(&gpu, &metrics).await?;
            if !m.loss.is_finite() {
                return Err(Error::Diverged(format!(
                    "the training loss became {} at epoch {epoch} step {step}; lower the learning rate (now {lr}) and reset",
                    m.loss
                )));
            }
            Ok(m)
        }
    }

    async fn take_train_metrics(&self) -> Result<Metrics, Error> {
        self.train_metrics_reader().await
    }

    /// Whether the current epoch has no steps left.
    pub fn epoch_done(&self) -> bool {
        self.step_in_epoch >= self.steps_per_epoch
    }

    /// Loss and accuracy on the whole test set.
    pub async fn evaluate_test(&self) -> Result<Metrics, Error> {
        self.evaluate(&self.test).await
    }

    /// Loss and accuracy on the validation split, if there is one.
    pub async fn evaluate_validation(&self) -> Result<Option<Metrics>, Error> {
        match &self.validation {
            Some(v) => Ok(Some(self.evaluate(v).await?)),
            None => Ok(None),
        }
    }

    async fn evaluate(&self, feed: &Feed) -> Result<Metrics, Error> {
        self.submit_eval(feed);
        take_metrics(&self.model.gpu, &self.eval_graph.metrics).await
    }

    /// Queues a pass over the test set and returns a reader of its metrics that does
    /// not borrow the trainer.
    pub fn test_reader(&self) -> impl std::future::Future<Output = Result<Metrics, Error>> + 'static {
        self.submit_eval(&self.test);
        let (gpu, metrics) = (self.model.gpu.clone(), self.eval_graph.metrics.clone());
        async move { take_metrics(&gpu, &metrics).await }
    }

    fn submit_eval(&self, feed: &Feed) {
        let gpu = &self.model.gpu;
        feed.rewind(gpu);
        let batches = feed.ids.len() / self.eval_graph.batch;
        let mut encoder = gpu.encoder();
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for _ in 0..batches {
                feed.gather.iter().for_each(|d| d.record(&mut pass));
                self.eval_graph.record_eval(&mut pass);
            }
        }
        gpu.submit(encoder);
    }
}

/// Reads the accumulated [loss sum, correct, examples] and zeroes them.
async fn take_metrics(gpu: &Gpu, metrics: &View) -> Result<Metrics, Error> {
    let m: Vec<f32> = metrics.read(gpu).await?;
    metrics.write(gpu, &[0f32; 3]);
    let n = m[2].max(1.0) as f64;
    Ok(Metrics { loss: m[0] as f64 / n, accuracy: m[1] as f64 / n, examples: m[2] as usize })
}

/// Class probabilities of `images` (normalized, [n, 784]) with a prepared prediction
/// graph of batch n.
pub async fn predict(gpu: &Gpu, graph: &Graph, images: &[f32]) -> Result<Vec<f32>, Error> {
    graph.input.expect("images", images.len())?;
    graph.input.write(gpu, images);
    let mut encoder = gpu.encoder();
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        graph.record_predict(&mut pass);
    }
    gpu.submit(encoder);
    graph.probs.read(gpu).await
}
