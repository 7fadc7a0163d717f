//! The browser surface (wasm only): what www/app.js calls. State lives in one
//! thread-local; every function borrows it only between awaits, so predictions keep
//! working while a training chunk is on the GPU. Models live on one engine at a time:
//! WebGPU with a hardware adapter, else the CPU engine (`init` says which and why;
//! `set_engine` switches, keeping the weights).

use std::cell::RefCell;

use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::data::{pixels_to_input, Mnist};
use crate::desc::optim::{Optimizer, Schedule};
use crate::model::{plan, predicted_classes, safetensors, summary, Engine, Net, Planned, Predictor, Spec, Tensor};
use crate::ops::choice::Kernel;
use crate::ops::kernel_cache::KernelCache;
use crate::ops::tune::Tuned;
use crate::train::fine_tune::FineTune;
use crate::train::{TrainConfig, Trainer};
use crate::{Error, Gpu};

struct State {
    gpu: Option<Gpu>,
    /// Where models are put: the GPU, or the CPU engine.
    engine: Engine,
    data: Option<Mnist>,
    /// The model when no trainer holds it.
    model: Option<Net>,
    trainer: Option<Trainer>,
    /// A batch-1 prediction of the current model.
    predictor: Option<Predictor>,
    /// The current model's values, copied out of its engine.
    copy: Option<ModelCopy>,
    /// The autotuner's choices (`kernel_cache` / `set_kernel_cache`: the page keeps them
    /// in IndexedDB, so a second visit times nothing).
    kernel_cache: KernelCache,
}

/// A model's values held in memory: what files are saved from, what moves to another
/// engine, and the reference network's input when the GPU device is lost.
struct ModelCopy {
    spec: Spec,
    layers: Vec<Planned>,
    tensors: Vec<(Tensor, Vec<f32>)>,
}

impl ModelCopy {
    fn values(&self) -> Vec<Vec<f32>> {
        self.tensors.iter().map(|(_, v)| v.clone()).collect()
    }
}

impl Default for State {
    fn default() -> State {
        State {
            gpu: None,
            engine: Engine::Cpu,
            data: None,
            model: None,
            trainer: None,
            predictor: None,
            copy: None,
            kernel_cache: KernelCache::default(),
        }
    }
}

impl State {
    /// The current network, wherever it is (a trainer holds it while training).
    fn net(&mut self) -> Option<&mut Net> {
        match self.trainer.as_mut() {
            Some(t) => Some(&mut t.model),
            None => self.model.as_mut(),
        }
    }

    /// The current network and its batch-1 predictor.
    fn net_and_predictor(&mut self) -> Option<(&mut Net, &mut Predictor)> {
        let net = match self.trainer.as_mut() {
            Some(t) => &mut t.model,
            None => self.model.as_mut()?,
        };
        Some((net, self.predictor.as_mut()?))
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

fn js(e: Error) -> JsValue {
    JsValue::from_str(&e.to_string())
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Connects to WebGPU and picks the engine: WebGPU on a hardware adapter; the CPU engine
/// where there is no WebGPU or only a software adapter (SwiftShader, WARP), which it
/// outruns (docs/benchmarks.md). Resolves to {webgpu, adapter?, error?, software?,
/// engine: "gpu"|"cpu", reason, cpu: the CPU engine's description}.
#[wasm_bindgen]
pub async fn init() -> String {
    let cpu = Engine::Cpu.describe();
    match connect().await {
        Ok(gpu) => {
            let (adapter, software) = (gpu.describe(), gpu.is_software());
            let (engine, reason) = if software {
                (Engine::Cpu, "the WebGPU adapter is a software one, which the CPU engine outruns".to_string())
            } else {
                (Engine::Gpu(gpu.clone()), "a hardware WebGPU adapter".to_string())
            };
            let name = engine.name();
            with(|s| (s.gpu, s.engine) = (Some(gpu), engine));
            json!({ "webgpu": true, "adapter": adapter, "software": software, "engine": name, "reason": reason, "cpu": cpu }).to_string()
        }
        Err(e) => {
            with(|s| s.engine = Engine::Cpu);
            json!({ "webgpu": false, "error": e, "engine": "cpu", "reason": "no usable WebGPU", "cpu": cpu }).to_string()
        }
    }
}

/// Puts this instance's models on the CPU engine without touching WebGPU: the training
/// worker's instance (www/js/train-worker.js).
#[wasm_bindgen]
pub fn use_cpu_engine() {
    with(|s| s.engine = Engine::Cpu);
}

/// Replaces the current model's weights with a file's (the same network), keeping any
/// trainer and its optimizer state: how the page follows the worker's training, and the
/// worker takes weights fine-tuned on the page.
#[wasm_bindgen]
pub fn update_weights(bytes: Vec<u8>) -> Result<(), JsValue> {
    let (spec, values) = safetensors::from_bytes("weights", &bytes).map_err(js)?;
    with(|s| {
        let net = s.net().ok_or_else(|| JsValue::from_str("no model loaded"))?;
        if net.spec().layers != spec.layers {
            return Err(JsValue::from_str("these weights belong to another network"));
        }
        net.write_tensors(&values);
        if let Some(copy) = &mut s.copy {
            copy.tensors.iter_mut().zip(values).for_each(|((_, v), new)| *v = new);
        }
        Ok(())
    })
}

/// Moves the current model to another engine ("gpu" or "cpu"), weights kept (the
/// optimizer state starts afresh; training stops). Resolves to the engine's name.
#[wasm_bindgen]
pub async fn set_engine(name: String) -> Result<String, JsValue> {
    let engine = match name.as_str() {
        "cpu" => Engine::Cpu,
        "gpu" => match with(|s| s.gpu.clone()) {
            Some(gpu) if gpu.lost_reason().is_none() => Engine::Gpu(gpu),
            _ => return Err(JsValue::from_str("there is no usable WebGPU device here")),
        },
        other => return Err(JsValue::from_str(&format!("no engine '{other}' (gpu, cpu)"))),
    };
    // A lost device cannot be read: the last copy (taken at every model change and epoch
    // end) is what moves then.
    let _ = refresh_cpu_copy().await;
    let current = with(|s| {
        s.engine = engine;
        s.copy.as_ref().map(|c| (c.spec.clone(), c.values()))
    });
    if let Some((spec, values)) = current {
        install_model(spec, Some(values), 0).await?;
    }
    Ok(name)
}

async fn connect() -> Result<Gpu, String> {
    let has_webgpu =
        js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).and_then(|n| js_sys::Reflect::has(&n, &"gpu".into())).unwrap_or(false);
    if !has_webgpu {
        return Err("This browser has no WebGPU (navigator.gpu is missing). WebGPU ships in Chrome and Edge 113+, Safari 26+ and Firefox 141+ on Windows; elsewhere it may sit behind a flag.".into());
    }
    Gpu::new().await.map_err(|e| match e {
        Error::NoGpu(_) => "WebGPU is present but offered no GPU adapter (it may be turned off by a flag or a blocklist).".to_string(),
        other => format!("WebGPU is present but gave no usable GPU: {other}"),
    })
}

/// Test hook: destroys this instance's GPU device, as a driver reset would (the
/// end-to-end tests force a device loss in the training worker with it).
#[wasm_bindgen]
pub fn lose_gpu_device_for_tests() {
    with(|s| {
        if let Some(gpu) = &s.gpu {
            gpu.device.destroy();
        }
    });
}

/// Whether a GPU device is connected and not lost.
#[wasm_bindgen]
pub fn gpu_status() -> String {
    with(|s| match &s.gpu {
        None => "none".into(),
        Some(g) => g.lost_reason().map(|r| format!("lost: {r}")).unwrap_or_else(|| "ok".into()),
    })
}

/// Parses the four MNIST IDX files (already decompressed).
#[wasm_bindgen]
pub fn load_data(train_images: &[u8], train_labels: &[u8], test_images: &[u8], test_labels: &[u8]) -> Result<(), JsValue> {
    let data = Mnist::from_bytes([train_images, train_labels, test_images, test_labels]).map_err(js)?;
    with(|s| s.data = Some(data));
    Ok(())
}

/// Loads a safetensors model (validated first: on any error the current model stays).
/// Resolves to the network's name.
#[wasm_bindgen]
pub async fn load_model(file_name: String, bytes: Vec<u8>) -> Result<String, JsValue> {
    let (spec, values) = safetensors::from_bytes(&file_name, &bytes).map_err(js)?;
    install_model(spec, Some(values), 0).await
}

/// A fresh, randomly initialized model of a preset.
#[wasm_bindgen]
pub async fn new_model(preset: String, seed: u32) -> Result<String, JsValue> {
    let spec = Spec::preset(&preset).ok_or_else(|| JsValue::from_str(&format!("no preset '{preset}'")))?;
    install_model(spec, None, seed as u64).await
}

async fn install_model(spec: Spec, values: Option<Vec<Vec<f32>>>, seed: u64) -> Result<String, JsValue> {
    let layers = plan(&spec).map_err(js)?;
    let engine = with(|s| s.engine.clone());
    let name = spec.name.clone();
    let net = match &values {
        Some(v) => Net::with_values(&engine, &spec, v),
        None => Net::new(&engine, &spec, seed),
    }
    .map_err(js)?;
    let predictor = net.predictor(1).map_err(js)?;
    let tensors = net.read_tensors().await.map_err(js)?;
    with(|s| {
        s.trainer = None;
        s.model = Some(net);
        s.predictor = Some(predictor);
        s.copy = Some(ModelCopy { spec, layers, tensors });
    });
    Ok(name)
}

/// The current model as safetensors bytes (what the command line writes).
#[wasm_bindgen]
pub async fn model_bytes() -> Result<Vec<u8>, JsValue> {
    refresh_cpu_copy().await?;
    with(|s| s.copy.as_ref().map(|c| safetensors::to_bytes(&c.spec, &c.tensors))).ok_or_else(|| JsValue::from_str("no model loaded"))
}

/// Copies the current model's values out (after training).
async fn refresh_cpu_copy() -> Result<(), JsValue> {
    let reader = with(|s| s.net().map(|n| n.tensor_reader()));
    let tensors = match reader {
        Some(reader) => Some(reader.await.map_err(js)?),
        None => None,
    };
    if let Some(tensors) = tensors {
        with(|s| {
            if let Some(copy) = &mut s.copy {
                copy.tensors = tensors;
            }
        });
    }
    Ok(())
}

/// A Keras-style summary of the current model.
#[wasm_bindgen]
pub fn model_summary() -> Result<String, JsValue> {
    with(|s| s.copy.as_ref().map(|c| summary(&c.spec))).ok_or_else(|| JsValue::from_str("no model loaded"))?.map_err(js)
}

/// The drawing (`ink`: width * height values in 0..1) as the 28x28 input, or nothing
/// for an empty canvas; rejects sizes that do not match the values.
#[wasm_bindgen]
pub fn preprocess(ink: &[f32], width: usize, height: usize) -> Result<Option<Vec<f32>>, JsValue> {
    crate::preprocess::preprocess(ink, width, height).map_err(|e| JsValue::from_str(&e))
}

/// Probabilities of 0..9 for one 28x28 image (values 0..1), on the model's engine; on
/// the reference network when the GPU device was lost.
#[wasm_bindgen]
pub async fn predict(image: Vec<f32>) -> Result<Vec<f32>, JsValue> {
    let pending = with(|s| match s.net_and_predictor() {
        Some((net, predictor)) if net.device_lost().is_none() => Some(predictor.submit(net, &image)),
        _ => None,
    });
    if let Some(pending) = pending {
        return pending.await.map_err(js);
    }
    with(|s| {
        let copy = s.copy.as_ref().ok_or_else(|| JsValue::from_str("no model loaded"))?;
        let logits = crate::model::reference::forward(&copy.layers, &copy.tensors, 1, &image);
        Ok(crate::reference::softmax_xent::softmax(1, 10, &logits))
    })
}

/// What the page asks `start_training` for (www/js/training.js): each field overrides the
/// model's recipe; a field not listed here is an error.
#[derive(serde::Deserialize)]
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

/// A request from the page, or an error that names the call and the problem (an unknown
/// field, a value of the wrong type).
fn request<T: serde::de::DeserializeOwned>(call: &str, json: &str) -> Result<T, JsValue> {
    serde_json::from_str(json).map_err(|e| JsValue::from_str(&format!("{call}: {e}")))
}

/// Starts (or restarts) training the current model. `config` is a `TrainingRequest` as
/// JSON. Resolves to {steps_per_epoch, batch, epochs, optimizer, schedule, epoch, step}.
#[wasm_bindgen]
pub fn start_training(config: &str) -> Result<String, JsValue> {
    let c: TrainingRequest = request("start_training", config)?;
    with(|s| {
        let data = s.data.as_ref().ok_or_else(|| JsValue::from_str("the data set is not loaded yet"))?;
        let mut model = match (s.trainer.take(), s.model.take()) {
            (Some(t), _) => t.model,
            (None, Some(m)) => m,
            (None, None) => return Err(JsValue::from_str("no model loaded")),
        };
        let mut tc = TrainConfig::from_spec(model.spec(), c.seed.unwrap_or(1));
        tc.optimizer = optimizer(c.optimizer.as_deref().unwrap_or(""), c.lr, tc.optimizer);
        if let Some(name) = &c.schedule {
            tc.schedule = Schedule::named(name).ok_or_else(|| JsValue::from_str(&format!("start_training: no schedule named {name:?}")))?;
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
        let result = Trainer::new(model, tc, data);
        match result {
            Ok(mut t) => {
                t.begin_epoch();
                let out = run_info(&t);
                s.trainer = Some(t);
                Ok(out)
            }
            Err(e) => Err(js(e)),
        }
    })
}

/// What start_training and resume_training resolve to: the run's recipe and position.
fn run_info(t: &Trainer) -> String {
    let c = t.config;
    json!({ "steps_per_epoch": t.steps_per_epoch, "batch": c.batch, "epochs": c.epochs, "optimizer": format!("{:?}", c.optimizer),
        "schedule": c.schedule.name(), "epoch": t.epoch, "step": t.step_in_epoch })
    .to_string()
}

/// The running trainer as a checkpoint file (`train::checkpoint`: weights, optimizer
/// state, recipe, position), for the page to keep in IndexedDB.
#[wasm_bindgen]
pub async fn checkpoint_bytes() -> Result<Vec<u8>, JsValue> {
    // Taken out while the GPU reads back (the page serializes its wasm calls meanwhile).
    let trainer = with(|s| s.trainer.take()).ok_or_else(|| JsValue::from_str("training has not started"))?;
    let bytes = crate::train::checkpoint::to_bytes(&trainer).await;
    with(|s| s.trainer = Some(trainer));
    bytes.map_err(js)
}

/// Continues training from a checkpoint file the page just loaded as its model (with
/// load_model): the optimizer state, step counter, shuffle and position come back.
/// Resolves as start_training does, with the position {epoch, step}.
#[wasm_bindgen]
pub fn resume_training(file_name: String, bytes: Vec<u8>) -> Result<String, JsValue> {
    let c = crate::train::checkpoint::parse(&file_name, &bytes).map_err(js)?;
    with(|s| {
        let data = s.data.as_ref().ok_or_else(|| JsValue::from_str("the data set is not loaded yet"))?;
        let model = match (s.trainer.take(), s.model.take()) {
            (Some(t), _) => t.model,
            (None, Some(m)) => m,
            (None, None) => return Err(JsValue::from_str("no model loaded")),
        };
        match crate::train::checkpoint::resume_with(model, &c, data, None) {
            Ok(t) => {
                let out = run_info(&t);
                s.trainer = Some(t);
                Ok(out)
            }
            Err(e) => Err(js(e)),
        }
    })
}

/// The optimizer the page names (its defaults), or the recipe's; then the page's lr.
fn optimizer(name: &str, lr: Option<f32>, default: Optimizer) -> Optimizer {
    // The recipe's own settings (the fast preset's Adam betas) stay when its optimizer is picked.
    let o = if name == default.name() { default } else { Optimizer::named(name).unwrap_or(default) };
    lr.map_or(o, |lr| o.with_lr(lr))
}

/// Runs up to `steps` training steps. Resolves to JSON {epoch, step, steps_per_epoch,
/// epochs, loss, accuracy, examples, epoch_done, finished}; rejects with a message on
/// divergence (NaN) or a lost device. Starts the next epoch when one is done.
#[wasm_bindgen]
pub async fn train_chunk(steps: usize) -> Result<String, JsValue> {
    begin_chunk()?;
    with(|s| {
        s.trainer.as_mut().ok_or_else(|| JsValue::from_str("training has not started"))?.submit_steps(steps);
        Ok::<_, JsValue>(())
    })?;
    chunk_report().await
}

/// Starts the next epoch if the last one is done and the run is not (each chunk's start).
#[wasm_bindgen]
pub fn begin_chunk() -> Result<(), JsValue> {
    with(|s| {
        let t = s.trainer.as_mut().ok_or_else(|| JsValue::from_str("training has not started"))?;
        if t.epoch_done() && t.epoch < t.config.epochs {
            t.begin_epoch();
        }
        Ok(())
    })
}

/// The metrics of the steps since the last report, as `train_chunk` resolves them;
/// rejects on divergence.
#[wasm_bindgen]
pub async fn chunk_report() -> Result<String, JsValue> {
    let reader =
        with(|s| s.trainer.as_mut().map(|t| t.train_metrics_reader())).ok_or_else(|| JsValue::from_str("training has not started"))?;
    let m = reader.await.map_err(js)?;
    with(|s| {
        let t = s.trainer.as_ref().ok_or_else(|| JsValue::from_str("training was stopped"))?;
        Ok(json!({
            "epoch": t.epoch, "step": t.step_in_epoch, "steps_per_epoch": t.steps_per_epoch, "epochs": t.config.epochs,
            "loss": m.loss, "accuracy": m.accuracy, "examples": m.examples,
            "epoch_done": t.epoch_done(), "finished": t.epoch_done() && t.epoch >= t.config.epochs,
        })
        .to_string())
    })
}

/// Data-parallel training over workers (js/train-worker.js; `train::parallel`): whether
/// the current run can be split.
#[wasm_bindgen]
pub fn splittable() -> bool {
    with(|s| s.trainer.as_ref().is_some_and(|t| t.splittable()))
}

/// The next step's batch cut into `n` shards of training-image indices (JSON [[..], ..]),
/// or nothing at the epoch's end.
#[wasm_bindgen]
pub fn next_shards(n: usize) -> Result<Option<String>, JsValue> {
    with(|s| {
        let t = s.trainer.as_mut().ok_or_else(|| JsValue::from_str("training has not started"))?;
        Ok(t.next_shards(n).map(|shards| json!(shards).to_string()))
    })
}

/// The mean gradient over the training images `ids`, with their loss sum and correct
/// count: {grads: Float32Array, loss, correct, count}.
#[wasm_bindgen]
pub fn shard_gradients(ids: Vec<u32>) -> Result<js_sys::Object, JsValue> {
    let (grads, loss, correct) =
        with(|s| s.trainer.as_mut().ok_or_else(|| JsValue::from_str("training has not started"))?.shard_gradients(&ids).map_err(js))?;
    let out = js_sys::Object::new();
    for (key, value) in [
        ("grads", js_sys::Float32Array::from(&grads[..]).into()),
        ("loss", JsValue::from(loss)),
        ("correct", JsValue::from(correct)),
        ("count", JsValue::from(ids.len() as u32)),
    ] {
        js_sys::Reflect::set(&out, &key.into(), &value)?;
    }
    Ok(out)
}

/// The batch's gradient from its shards' (`train::parallel::combine`): `counts[i]`
/// images gave `parts[i]`.
#[wasm_bindgen]
pub fn combine_gradients(parts: Vec<js_sys::Float32Array>, counts: Vec<u32>) -> Vec<f32> {
    let owned: Vec<Vec<f32>> = parts.iter().map(|p| p.to_vec()).collect();
    let refs: Vec<(&[f32], usize)> = owned.iter().zip(&counts).map(|(g, &n)| (g.as_slice(), n as usize)).collect();
    crate::train::parallel::combine(&refs)
}

/// One optimizer step with the batch's gradient; the metrics join the running ones (a
/// helper worker passes zeros).
#[wasm_bindgen]
pub fn apply_gradients(grads: Vec<f32>, loss: f64, correct: f64, examples: u32) -> Result<(), JsValue> {
    with(|s| {
        let t = s.trainer.as_mut().ok_or_else(|| JsValue::from_str("training has not started"))?;
        t.apply_gradients(&grads, [loss, correct, examples as f64]).map_err(js)
    })
}

/// Loss and accuracy of the current model on the 10,000 test images: {loss, accuracy}.
#[wasm_bindgen]
pub async fn evaluate_test() -> Result<String, JsValue> {
    let reader = with(|s| s.trainer.as_mut().map(|t| t.test_reader())).ok_or_else(|| JsValue::from_str("training has not started"))?;
    let m = reader.await.map_err(js)?;
    Ok(json!({ "loss": m.loss, "accuracy": m.accuracy, "examples": m.examples }).to_string())
}

/// The predicted digit of every test image (for the confusion matrix and galleries).
#[wasm_bindgen]
pub async fn test_predictions() -> Result<Vec<u8>, JsValue> {
    const BATCH: usize = 500;
    let digits = |probs: &[f32]| -> Vec<u8> { predicted_classes(probs).map(|c| c as u8).collect() };
    let images = with(|s| s.data.as_ref().map(|d| d.test.images.pixels.clone()))
        .ok_or_else(|| JsValue::from_str("the data set is not loaded yet"))?;
    let mut predictor = with(|s| s.net().map(|n| n.predictor(BATCH))).ok_or_else(|| JsValue::from_str("no model loaded"))?.map_err(js)?;
    let mut out = Vec::new();
    for x in images.chunks(BATCH * 784).filter(|c| c.len() == BATCH * 784).map(pixels_to_input) {
        let pending = with(|s| s.net().map(|n| predictor.submit(n, &x))).ok_or_else(|| JsValue::from_str("no model loaded"))?;
        out.extend(digits(&pending.await.map_err(js)?));
    }
    Ok(out)
}

/// The first convolution's filters: JSON {out, k, values} (values [out, k, k], in_c = 1).
#[wasm_bindgen]
pub async fn first_filters() -> Result<String, JsValue> {
    refresh_cpu_copy().await?;
    with(|s| {
        let copy = s.copy.as_ref().ok_or_else(|| JsValue::from_str("no model loaded"))?;
        let Some(Planned::Conv { name, out_c, kernel, .. }) = copy.layers.iter().find(|l| matches!(l, Planned::Conv { .. })) else {
            return Err(JsValue::from_str("the network has no convolution"));
        };
        let w = copy.tensors.iter().find(|(t, _)| t.name == format!("{name}.weight")).map(|(_, v)| v.clone()).unwrap_or_default();
        Ok(json!({ "out": out_c, "k": kernel, "values": w }).to_string())
    })
}

/// Fine-tunes the current model for `steps` Adam steps (`train::fine_tune`) on the
/// personal examples (`images`: n * 784 values in 0..1, `labels`: n digits) mixed with
/// MNIST. Resolves to JSON {loss, accuracy} of the last step's batch.
#[wasm_bindgen]
pub async fn fine_tune(images: Vec<f32>, labels: Vec<u8>, steps: usize) -> Result<String, JsValue> {
    // The optimizer state is shared with a paused trainer and kept: Adam's moments from
    // training are a fine start for fine-tuning, and training can resume after.
    let pending = with(|s| {
        let mnist = s.data.as_ref().ok_or_else(|| JsValue::from_str("the data set is not loaded yet"))?.train.clone();
        let net = s.net().ok_or_else(|| JsValue::from_str("no model loaded"))?;
        let mut tune = FineTune::new(net, images, labels, mnist, js_sys::Date::now() as u64).map_err(js)?;
        tune.submit(net, steps).map_err(js)
    })?;
    let m = pending.take().await.map_err(js)?;
    Ok(json!({ "loss": m.loss, "accuracy": m.accuracy }).to_string())
}

/// What scripts/bench-browser.mjs asks `benchmark` for; a field not listed here is an error.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchmarkRequest {
    /// "gpu" (the default) or "cpu".
    #[serde(default)]
    engine: BenchmarkEngine,
    /// Preset names.
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    batches: Vec<usize>,
    /// Timed training windows (default 5), of at least `images` images (default 2000).
    windows: Option<usize>,
    images: Option<usize>,
    /// Also time each kernel (GPU) or each layer and pass (CPU engine) at the first batch size.
    #[serde(default)]
    profile: bool,
    /// "direct", "tiled" or "tiled-narrow": every convolution runs it; when absent, each
    /// pass runs the kernel timed fastest for it (`autotune`).
    conv: Option<Kernel>,
}

#[derive(Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum BenchmarkEngine {
    #[default]
    Gpu,
    Cpu,
}

impl BenchmarkRequest {
    fn windows(&self) -> usize {
        self.windows.unwrap_or(5)
    }
    fn images(&self) -> usize {
        self.images.unwrap_or(2000)
    }
    fn profile_batch(&self) -> usize {
        self.batches.first().copied().unwrap_or(64)
    }
}

/// The in-browser benchmark (the same code as `wgpu-mnist bench`). `config` is a
/// `BenchmarkRequest` as JSON; needs init() and load_data() first. Resolves to JSON
/// {adapter, rows: [{model, batch, train_images_per_s, infer_1_ms, infer_1000_ms}],
/// profiles: [{model, batch, kernels: [[label, ms], ..], kernels_chosen: [Tuned, ..]}]}.
/// Unless `conv` forces a kernel, each training network is autotuned first (through the
/// kernel cache, like `autotune`).
#[wasm_bindgen]
pub async fn benchmark(config: String) -> Result<String, JsValue> {
    use crate::benchmark::{inference_latency, train_flops_per_example, train_throughput_of};
    let c: BenchmarkRequest = request("benchmark", &config)?;
    let (gpu, data) = with(|s| (s.gpu.clone(), s.data.clone()));
    let data = data.ok_or_else(|| JsValue::from_str("no data"))?;
    if c.engine == BenchmarkEngine::Cpu {
        return cpu_benchmark(&c, &data).await;
    }
    let engine = Engine::Gpu(gpu.ok_or_else(|| JsValue::from_str("no WebGPU"))?);
    // Every network measured here builds its graphs with the asked-for convolutions, or
    // (none asked for) the kernels timed fastest at the batch it trains at.
    let new_net = |spec: &Spec| -> Result<Net, JsValue> {
        let mut net = Net::new(&engine, spec, 1).map_err(js)?;
        net.force_conv(c.conv);
        Ok(net)
    };
    let (mut rows, mut profiles) = (Vec::new(), Vec::new());
    let peak = engine.peak_gflops().await.map_err(js)?;
    for name in &c.models {
        let spec = Spec::preset(name).ok_or_else(|| JsValue::from_str(&format!("no preset {name}")))?;
        let mut model = new_net(&spec)?;
        let one = inference_latency(&mut model, &data, 1, 21).await.map_err(js)?;
        let thousand = inference_latency(&mut model, &data, 1000, 3).await.map_err(js)?;
        for &batch in &c.batches {
            let mut tuned = new_net(&spec)?;
            tune_with_cache(&mut tuned, batch).await.map_err(js)?;
            let rate = train_throughput_of(tuned, &data, batch, c.windows(), c.images()).await.map_err(js)?;
            let gflops = rate * train_flops_per_example(model.layers()) / 1e9;
            rows.push(json!({ "model": name, "batch": batch, "train_images_per_s": rate, "gflops": gflops, "infer_1_ms": one, "infer_1000_ms": thousand }));
        }
        if c.profile {
            let batch = c.profile_batch();
            let mut tuned = new_net(&spec)?;
            let chosen = tune_with_cache(&mut tuned, batch).await.map_err(js)?;
            let (kernels, _) = tuned.step_profile(&data, batch, 3).await.map_err(js)?;
            // The 1,000-image prediction as `inference_latency` ran it: untuned kernels.
            let inference = new_net(&spec)?.predict_profile(1000).await.map_err(js)?;
            profiles.push(json!({ "model": name, "batch": batch, "kernels": kernels, "kernels_chosen": chosen, "inference": inference }));
        }
    }
    Ok(json!({ "adapter": engine.describe(), "peak_gflops": peak, "conv": c.conv.map_or("default", Kernel::name), "rows": rows, "profiles": profiles })
        .to_string())
}

/// The headline benchmark in the browser (the same code as `wgpu-mnist bench
/// --time-to-accuracy`): trains `preset` by its recipe on `engine` ("gpu" or "cpu"; the CPU
/// engine on this thread) and resolves to JSON {batch, setup_s, reached: [s to 98%, s to
/// 99%] (null: not reached), trained_s, epochs, checks, last_accuracy}. Needs init() and
/// load_data() first.
#[wasm_bindgen]
pub async fn benchmark_time_to_accuracy(engine: String, preset: String, checks_per_epoch: usize) -> Result<String, JsValue> {
    let (gpu, data) = with(|s| (s.gpu.clone(), s.data.clone()));
    let data = data.ok_or_else(|| JsValue::from_str("no data"))?;
    let engine = match engine.as_str() {
        "gpu" => Engine::Gpu(gpu.ok_or_else(|| JsValue::from_str("no WebGPU"))?),
        "cpu" => Engine::Cpu,
        other => return Err(JsValue::from_str(&format!("no engine {other:?} (gpu or cpu)"))),
    };
    let spec = Spec::preset(&preset).ok_or_else(|| JsValue::from_str(&format!("no preset {preset}")))?;
    let mut net = Net::new(&engine, &spec, 1).map_err(js)?;
    tune_with_cache(&mut net, spec.batch).await.map_err(js)?;
    let r = crate::benchmark::time_to_accuracy(net, &data, &[0.98, 0.99], checks_per_epoch).await.map_err(js)?;
    serde_json::to_string(&r).map_err(|e| JsValue::from_str(&e.to_string()))
}

/// The CPU engine's rows of `benchmark` (wasm32 with simd128, one thread), with a
/// per-layer breakdown when `profile` is set.
async fn cpu_benchmark(c: &BenchmarkRequest, data: &Mnist) -> Result<String, JsValue> {
    use crate::benchmark::{inference_latency, train_flops_per_example, train_throughput};
    let (mut rows, mut profiles) = (Vec::new(), Vec::new());
    for name in &c.models {
        let spec = Spec::preset(name).ok_or_else(|| JsValue::from_str(&format!("no preset {name}")))?;
        let mut model = Net::new(&Engine::Cpu, &spec, 1).map_err(js)?;
        let one = inference_latency(&mut model, data, 1, 21).await.map_err(js)?;
        let thousand = inference_latency(&mut model, data, 1000, 3).await.map_err(js)?;
        for &batch in &c.batches {
            let rate = train_throughput(&Engine::Cpu, &spec, data, batch, c.windows(), c.images()).await.map_err(js)?;
            let gflops = rate * train_flops_per_example(model.layers()) / 1e9;
            rows.push(json!({ "model": name, "batch": batch, "train_images_per_s": rate, "gflops": gflops, "infer_1_ms": one, "infer_1000_ms": thousand }));
        }
        if c.profile {
            let batch = c.profile_batch();
            let (kernels, _) = model.step_profile(data, batch, 3).await.map_err(js)?;
            profiles.push(json!({ "model": name, "batch": batch, "kernels": kernels }));
        }
    }
    Ok(json!({ "adapter": Engine::Cpu.describe(), "rows": rows, "profiles": profiles }).to_string())
}

/// The presets, for the picker.
#[wasm_bindgen]
pub fn presets() -> Vec<String> {
    crate::model::PRESETS.iter().map(|s| s.to_string()).collect()
}

/// A preset's recipe as JSON {optimizer, schedule, lr, batch, epochs}.
#[wasm_bindgen]
pub fn preset_recipe(name: &str) -> Result<String, JsValue> {
    let s = Spec::preset(name).ok_or_else(|| JsValue::from_str("no such preset"))?;
    let recipe = json!({ "optimizer": s.optimizer.name(), "schedule": s.schedule.name(), "lr": s.optimizer.lr(), "batch": s.batch, "epochs": s.epochs });
    Ok(recipe.to_string())
}

/// Runs every engine case (each op against its f64 reference) on the CPU engine and,
/// with WebGPU, on the GPU; resolves to a JSON array of {name, engine, ok, max_rel_err,
/// max_fd_err, shapes, error}.
#[wasm_bindgen]
pub async fn engine_selftest() -> Result<String, JsValue> {
    let gpu = with(|s| s.gpu.clone());
    let mut rows = Vec::new();
    let row = |name: &str, engine: &str, r: Result<crate::selftest::Report, String>| match r {
        Ok(r) => {
            json!({ "name": name, "engine": engine, "ok": true, "max_rel_err": r.max_rel_err, "max_fd_err": r.max_fd_err, "shapes": r.shapes.len() })
        }
        Err(e) => json!({ "name": name, "engine": engine, "ok": false, "error": e }),
    };
    for name in crate::selftest::CASES {
        if let Some(gpu) = &gpu {
            rows.push(row(name, "gpu", crate::selftest::run_case(&crate::selftest::GpuEngine::new(gpu), name).await));
        }
        rows.push(row(name, "cpu", crate::selftest::run_case(&crate::selftest::CPU_ENGINE, name).await));
    }
    Ok(serde_json::Value::Array(rows).to_string())
}

/// Chooses the kernel of each convolution and dense pass of the current GPU model's
/// training graph at `batch` (`ops::tune`): times what the kernel cache does not know
/// and adds it there. Call it after new_model/load_model and before start_training (a
/// graph built first runs the adapter's defaults); then save `kernel_cache()`. Resolves
/// to JSON [{layer, pass, key, kernel, ms: [[kernel, ms], ..], cached}, ..] ([] on the
/// CPU engine). Each call times for at most about 30 s; passes left over come back with
/// empty `ms`, run their default kernel, and are timed by the next call.
#[wasm_bindgen]
pub async fn autotune(batch: usize) -> Result<String, JsValue> {
    if with(|s| s.trainer.is_some()) {
        return Err(JsValue::from_str("autotune: call it before start_training (the trainer has built its graphs)"));
    }
    let Some(mut net) = with(|s| s.model.take()) else { return Err(JsValue::from_str("autotune: no model loaded")) };
    // Taken out while the GPU times kernels (the page serializes its wasm calls meanwhile).
    let tuned = tune_with_cache(&mut net, batch).await;
    with(|s| s.model = Some(net));
    serde_json::to_string(&tuned.map_err(js)?).map_err(|e| JsValue::from_str(&e.to_string()))
}

/// `Net::autotune` through the state's kernel cache.
async fn tune_with_cache(net: &mut Net, batch: usize) -> Result<Vec<Tuned>, Error> {
    let mut cache = with(|s| std::mem::take(&mut s.kernel_cache));
    let tuned = net.autotune(batch, &mut cache).await;
    with(|s| s.kernel_cache = cache);
    tuned
}

/// The autotuner's cache as JSON, for the page to keep in IndexedDB (after `autotune`
/// or `benchmark`, whenever it grew).
#[wasm_bindgen]
pub fn kernel_cache() -> String {
    with(|s| s.kernel_cache.to_json())
}

/// Restores the cache `kernel_cache` gave (call it once after init, before any
/// `autotune`). A malformed one is refused with a message and the cache stays as it
/// was: the page should then delete its stored copy. A cache of an older format is
/// accepted as empty.
#[wasm_bindgen]
pub fn set_kernel_cache(json: &str) -> Result<(), JsValue> {
    let cache = KernelCache::from_json(json).map_err(js)?;
    with(|s| s.kernel_cache = cache);
    Ok(())
}
