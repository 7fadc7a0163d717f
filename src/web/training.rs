//! What a training run calls: start or resume, chunks of steps and their reports,
//! checkpoints, data-parallel shards (js/train-worker.js), test evaluation, the test set's
//! predictions, and fine-tuning on a person's own digits (`train::fine_tune`).

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::error::{js, request, state, typed};
use super::Session;
use crate::data::{pixels_to_input, Mnist};
use crate::desc::optim::{Optimizer, Schedule};
use crate::model::predicted_classes;
use crate::train::fine_tune::FineTune;
use crate::train::{Metrics, TrainConfig, Trainer};

/// What the page asks `start_training` for (www/js/training.js): each field overrides the
/// model's recipe; a field not listed here is an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainingRequest {
    /// "adam", "sgd", "nesterov", "rmsprop" or "adadelta" with its defaults; the recipe's
    /// optimizer when absent or unknown.
    optimizer: Option<String>,
    /// "constant", "one-cycle" or "step"; the recipe's schedule when absent.
    schedule: Option<String>,
    lr: Option<f32>,
    batch: Option<usize>,
    epochs: Option<usize>,
    seed: Option<u64>,
    /// Train on the first images only (quick runs).
    train_limit: Option<usize>,
    /// Evaluate on the first test images only.
    test_limit: Option<usize>,
}

/// A run's recipe and position, as `start_training` and `resume_training` resolve.
#[derive(Serialize)]
struct RunInfo {
    steps_per_epoch: usize,
    batch: usize,
    epochs: usize,
    optimizer: String,
    schedule: &'static str,
    epoch: usize,
    step: usize,
}

impl RunInfo {
    fn of(t: &Trainer) -> RunInfo {
        let c = t.config;
        RunInfo {
            steps_per_epoch: t.steps_per_epoch,
            batch: c.batch,
            epochs: c.epochs,
            optimizer: format!("{:?}", c.optimizer),
            schedule: c.schedule.name(),
            epoch: t.epoch,
            step: t.step_in_epoch,
        }
    }
}

/// The metrics of a chunk of steps and where the run stands after it.
#[derive(Serialize)]
struct ChunkReport {
    epoch: usize,
    step: usize,
    steps_per_epoch: usize,
    epochs: usize,
    loss: f64,
    accuracy: f64,
    examples: usize,
    epoch_done: bool,
    finished: bool,
}

/// Loss and accuracy over some examples.
#[derive(Serialize)]
struct Evaluation {
    loss: f64,
    accuracy: f64,
    examples: usize,
}

impl From<Metrics> for Evaluation {
    fn from(m: Metrics) -> Evaluation {
        Evaluation { loss: m.loss, accuracy: m.accuracy, examples: m.examples }
    }
}

/// One worker's share of a data-parallel step.
#[derive(Serialize)]
struct ShardGradients {
    #[serde(with = "float32_array")]
    grads: Vec<f32>,
    loss: f64,
    correct: f64,
    count: u32,
}

/// Floats travel as a Float32Array (a worker transfers its buffer; a view reads it), not an array.
pub(super) mod float32_array {
    pub fn serialize<S: serde::Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        serde_wasm_bindgen::preserve::serialize(&js_sys::Float32Array::from(v), s)
    }
}

const NOT_STARTED: &str = "training has not started";

/// The optimizer the page names (its defaults), or the recipe's; then the page's lr.
fn optimizer(name: &str, lr: Option<f32>, default: Optimizer) -> Optimizer {
    // The recipe's own settings (the fast preset's Adam betas) stay when its optimizer is picked.
    let o = if name == default.name() { default } else { Optimizer::named(name).unwrap_or(default) };
    lr.map_or(o, |lr| o.with_lr(lr))
}

#[wasm_bindgen]
impl Session {
    /// Starts (or restarts) training the current model; `config` is a `TrainingRequest`.
    /// Resolves to {steps_per_epoch, batch, epochs, optimizer, schedule, epoch, step}.
    pub fn start_training(&self, config: JsValue) -> Result<JsValue, JsValue> {
        let c: TrainingRequest = serde_wasm_bindgen::from_value(config).map_err(|e| request(&format!("start_training: {e}")))?;
        let info = self.with(|s| {
            let data = s.data.as_ref().ok_or_else(|| state("the data set is not loaded yet"))?;
            let mut model = match (s.trainer.take(), s.model.take()) {
                (Some(t), _) => t.model,
                (None, Some(m)) => m,
                (None, None) => return Err(state("no model loaded")),
            };
            let mut tc = TrainConfig::from_spec(model.spec(), c.seed.unwrap_or(1));
            tc.optimizer = optimizer(c.optimizer.as_deref().unwrap_or(""), c.lr, tc.optimizer);
            if let Some(name) = &c.schedule {
                match Schedule::named(name) {
                    Some(schedule) => tc.schedule = schedule,
                    None => {
                        s.model = Some(model);
                        return Err(request(&format!("start_training: no schedule named {name:?}")));
                    }
                }
            }
            tc.batch = c.batch.unwrap_or(tc.batch);
            tc.epochs = c.epochs.unwrap_or(tc.epochs);
            model.clear_optimizer();
            let limited;
            let data = match (c.train_limit, c.test_limit) {
                (None, None) => data,
                (a, b) => {
                    limited = Mnist { train: data.train.take(a.unwrap_or(usize::MAX)), test: data.test.take(b.unwrap_or(usize::MAX)) };
                    &limited
                }
            };
            let mut t = Trainer::new(model, tc, data).map_err(js)?;
            t.begin_epoch();
            let info = RunInfo::of(&t);
            s.trainer = Some(t);
            Ok(info)
        })?;
        typed(&info)
    }

    /// Continues training from a checkpoint file the page just loaded as its model (with
    /// load_model): the optimizer state, step counter, shuffle and position come back.
    /// Resolves as start_training does, with the position {epoch, step}.
    pub fn resume_training(&self, file_name: String, bytes: Vec<u8>) -> Result<JsValue, JsValue> {
        let c = crate::train::checkpoint::parse(&file_name, &bytes).map_err(js)?;
        let info = self.with(|s| {
            let data = s.data.as_ref().ok_or_else(|| state("the data set is not loaded yet"))?;
            let model = match (s.trainer.take(), s.model.take()) {
                (Some(t), _) => t.model,
                (None, Some(m)) => m,
                (None, None) => return Err(state("no model loaded")),
            };
            let t = crate::train::checkpoint::resume_with(model, &c, data, None).map_err(js)?;
            let info = RunInfo::of(&t);
            s.trainer = Some(t);
            Ok(info)
        })?;
        typed(&info)
    }

    /// The running trainer as a checkpoint file (`train::checkpoint`: weights, optimizer
    /// state, recipe, position), for the page to keep in IndexedDB.
    pub async fn checkpoint_bytes(&self) -> Result<Vec<u8>, JsValue> {
        // Taken out while the GPU reads back (the page serializes its wasm calls meanwhile).
        let trainer = self.with(|s| s.trainer.take()).ok_or_else(|| state(NOT_STARTED))?;
        let bytes = crate::train::checkpoint::to_bytes(&trainer).await;
        self.with(|s| s.trainer = Some(trainer));
        bytes.map_err(js)
    }

    /// Runs up to `steps` training steps. Resolves to {epoch, step, steps_per_epoch,
    /// epochs, loss, accuracy, examples, epoch_done, finished}; rejects with kind
    /// "diverged" (NaN) or "device_lost". Starts the next epoch when one is done.
    pub async fn train_chunk(&self, steps: usize) -> Result<JsValue, JsValue> {
        self.begin_chunk()?;
        self.with(|s| s.trainer.as_mut().map(|t| t.submit_steps(steps))).ok_or_else(|| state(NOT_STARTED))?;
        self.chunk_report().await
    }

    /// Starts the next epoch if the last one is done and the run is not (each chunk's start).
    pub fn begin_chunk(&self) -> Result<(), JsValue> {
        self.with(|s| {
            let t = s.trainer.as_mut().ok_or_else(|| state(NOT_STARTED))?;
            if t.epoch_done() && t.epoch < t.config.epochs {
                t.begin_epoch();
            }
            Ok(())
        })
    }

    /// The metrics of the steps since the last report, as `train_chunk` resolves them.
    pub async fn chunk_report(&self) -> Result<JsValue, JsValue> {
        let reader = self.with(|s| s.trainer.as_mut().map(|t| t.train_metrics_reader())).ok_or_else(|| state(NOT_STARTED))?;
        let m = reader.await.map_err(js)?;
        let report = self.with(|s| {
            let t = s.trainer.as_ref().ok_or_else(|| state("training was stopped"))?;
            Ok::<_, JsValue>(ChunkReport {
                epoch: t.epoch,
                step: t.step_in_epoch,
                steps_per_epoch: t.steps_per_epoch,
                epochs: t.config.epochs,
                loss: m.loss,
                accuracy: m.accuracy,
                examples: m.examples,
                epoch_done: t.epoch_done(),
                finished: t.epoch_done() && t.epoch >= t.config.epochs,
            })
        })?;
        typed(&report)
    }

    /// Data-parallel training over workers (js/train-worker.js; `train::parallel`):
    /// whether the current run can be split.
    pub fn splittable(&self) -> bool {
        self.with(|s| s.trainer.as_ref().is_some_and(|t| t.splittable()))
    }

    /// The next step's batch cut into `n` shards of training-image indices ([[..], ..]),
    /// or null at the epoch's end.
    pub fn next_shards(&self, n: usize) -> Result<JsValue, JsValue> {
        let shards = self.with(|s| s.trainer.as_mut().map(|t| t.next_shards(n))).ok_or_else(|| state(NOT_STARTED))?;
        typed(&shards)
    }

    /// The mean gradient over the training images `ids`, with their loss sum and correct
    /// count: {grads: Float32Array, loss, correct, count}.
    pub fn shard_gradients(&self, ids: Vec<u32>) -> Result<JsValue, JsValue> {
        let (grads, loss, correct) =
            self.with(|s| s.trainer.as_mut().ok_or_else(|| state(NOT_STARTED))?.shard_gradients(&ids).map_err(js))?;
        typed(&ShardGradients { grads, loss, correct, count: ids.len() as u32 })
    }

    /// The batch's gradient from its shards' (`train::parallel::combine`): `counts[i]`
    /// images gave `parts[i]`.
    pub fn combine_gradients(&self, parts: Vec<js_sys::Float32Array>, counts: Vec<u32>) -> Vec<f32> {
        let owned: Vec<Vec<f32>> = parts.iter().map(|p| p.to_vec()).collect();
        let refs: Vec<(&[f32], usize)> = owned.iter().zip(&counts).map(|(g, &n)| (g.as_slice(), n as usize)).collect();
        crate::train::parallel::combine(&refs)
    }

    /// One optimizer step with the batch's gradient; the metrics join the running ones (a
    /// helper worker passes zeros).
    pub fn apply_gradients(&self, grads: Vec<f32>, loss: f64, correct: f64, examples: u32) -> Result<(), JsValue> {
        self.with(|s| {
            s.trainer.as_mut().ok_or_else(|| state(NOT_STARTED))?.apply_gradients(&grads, [loss, correct, examples as f64]).map_err(js)
        })
    }

    /// Loss and accuracy of the current model on the 10,000 test images: {loss, accuracy, examples}.
    pub async fn evaluate_test(&self) -> Result<JsValue, JsValue> {
        let reader = self.with(|s| s.trainer.as_mut().map(|t| t.test_reader())).ok_or_else(|| state(NOT_STARTED))?;
        typed(&Evaluation::from(reader.await.map_err(js)?))
    }

    /// The predicted digit of every test image (for the confusion matrix and galleries).
    pub async fn test_predictions(&self) -> Result<Vec<u8>, JsValue> {
        const BATCH: usize = 500;
        let images = self.with(|s| s.data().map(|d| d.test.images.pixels.clone()))?;
        let mut predictor = self.with(|s| s.net_or_err()?.predictor(BATCH).map_err(js))?;
        let mut out = Vec::new();
        for x in images.chunks(BATCH * 784).filter(|c| c.len() == BATCH * 784).map(pixels_to_input) {
            let pending = self.with(|s| s.net_or_err().map(|n| predictor.submit(n, &x)))?;
            out.extend(predicted_classes(&pending.await.map_err(js)?).map(|c| c as u8));
        }
        Ok(out)
    }

    /// Fine-tunes the current model for `steps` Adam steps (`train::fine_tune`) on the
    /// personal examples (`images`: n * 784 values in 0..1, `labels`: n digits) mixed
    /// with MNIST. Resolves to {loss, accuracy, examples} of the last step's batch.
    pub async fn fine_tune(&self, images: Vec<f32>, labels: Vec<u8>, steps: usize) -> Result<JsValue, JsValue> {
        // The optimizer state is shared with a paused trainer and kept: Adam's moments
        // from training are a fine start for fine-tuning, and training can resume after.
        let pending = self.with(|s| {
            let mnist = s.data()?.train.clone();
            let net = s.net_or_err()?;
            let mut tune = FineTune::new(net, images, labels, mnist, js_sys::Date::now() as u64).map_err(js)?;
            tune.submit(net, steps).map_err(js)
        })?;
        typed(&Evaluation::from(pending.take().await.map_err(js)?))
    }
}
