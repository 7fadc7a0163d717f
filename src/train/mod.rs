//! Training, written once over the engine facade (`model::Net` and `model::Exec`): the
//! epoch's shuffle, the step count, the metrics and the divergence check live here; how
//! an engine runs a chunk of steps is `model::exec`'s.

pub mod checkpoint;
pub mod fine_tune;
pub mod log;
pub mod parallel;

use crate::data::Mnist;
use crate::desc::optim::{rate_at, Optimizer, Schedule};
use crate::error::Error;
use crate::model::exec::{Exec, RunShape};
use crate::model::{Net, Spec};
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

pub use crate::model::exec::{Metrics, PendingMetrics, Predictor};

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
        let steps_per_epoch = n_train / config.batch;
        let rates = config.schedule.rates(config.optimizer.lr(), steps_per_epoch, config.epochs);
        let exec =
            Exec::new(&model, &RunShape { data, n_train, batch: config.batch, eval_batch, optimizer: config.optimizer, rates: &rates })?;
        Ok(Trainer { steps_per_epoch, rates, rng: Rng::new(config.seed ^ 0xda7a), model, config, exec, ids, epoch: 0, step_in_epoch: 0 })
    }

    /// Starts an epoch: a fresh shuffle of the training order (Fisher-Yates, seeded).
    /// The last partial batch of an epoch is dropped.
    pub fn begin_epoch(&mut self) {
        for i in (1..self.ids.len()).rev() {
            self.ids.swap(i, self.rng.below(i + 1));
        }
        self.exec.set_order(&self.model, &self.ids);
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
        self.exec.submit_steps(&mut self.model, &self.ids, self.step_in_epoch, steps, &self.config.optimizer, &self.rates);
        self.step_in_epoch += steps;
        steps
    }

    /// A future that reads (and zeroes) the training metrics without borrowing the
    /// trainer, so other work can use it meanwhile (the browser's event loop). A
    /// non-finite loss is an error that names the step and the learning rate.
    pub fn train_metrics_reader(&mut self) -> impl std::future::Future<Output = Result<Metrics, Error>> + 'static {
        let pending = self.exec.metrics_reader();
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
        self.exec.seek(&self.model, step * self.config.batch);
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
        match self.exec.validation(&mut self.model) {
            Some(pending) => Ok(Some(pending.take().await?)),
            None => Ok(None),
        }
    }

    /// Runs (GPU: queues) a pass over the test set and returns a reader of its metrics
    /// that does not borrow the trainer.
    pub fn test_reader(&mut self) -> impl std::future::Future<Output = Result<Metrics, Error>> + 'static {
        self.exec.test(&mut self.model).take()
    }
}
