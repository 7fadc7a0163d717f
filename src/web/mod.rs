//! The browser surface (wasm only): one `Session` object per page or worker, with typed
//! methods (www/js calls them). Results are plain JavaScript values (`typed`) and errors
//! carry a `kind` (`error::Kind`) the page switches on. A session's state is borrowed
//! only between awaits, so predictions keep working while a training chunk is on the
//! GPU. Models live on one engine at a time: WebGPU with a hardware adapter, else the
//! CPU engine (`init` says which and why; `set_engine` switches, keeping the weights).
//! What a training run calls is in `training.rs`; the benchmark, the engine self-test and
//! the autotuner in `bench.rs`.

mod bench;
mod error;
mod training;
mod views;

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::data::Mnist;
use crate::model::{plan, safetensors, summary, Engine, Net, Planned, Predictor, Spec, Tensor};
use crate::ops::kernel_cache::KernelCache;
use crate::train::Trainer;
use crate::{Error, Gpu};
use error::{js, request, state, typed};

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
    /// The views of the network's reasoning (saliency, the map of the digits): made for
    /// the current model, dropped with it.
    views: views::Views,
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

impl State {
    /// The current network, wherever it is (a trainer holds it while training).
    fn net(&mut self) -> Option<&mut Net> {
        match self.trainer.as_mut() {
            Some(t) => Some(&mut t.model),
            None => self.model.as_mut(),
        }
    }

    fn net_or_err(&mut self) -> Result<&mut Net, JsValue> {
        self.net().ok_or_else(|| state("no model loaded"))
    }

    /// The current network and its batch-1 predictor.
    fn net_and_predictor(&mut self) -> Option<(&mut Net, &mut Predictor)> {
        let net = match self.trainer.as_mut() {
            Some(t) => &mut t.model,
            None => self.model.as_mut()?,
        };
        Some((net, self.predictor.as_mut()?))
    }

    /// The current network and the views made for it.
    fn net_and_views(&mut self) -> Result<(&mut Net, &mut views::Views), JsValue> {
        let net = match self.trainer.as_mut() {
            Some(t) => &mut t.model,
            None => self.model.as_mut().ok_or_else(|| state("no model loaded"))?,
        };
        Ok((net, &mut self.views))
    }

    fn data(&self) -> Result<&Mnist, JsValue> {
        self.data.as_ref().ok_or_else(|| state("the data set is not loaded yet"))
    }
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// What `init` found.
#[derive(Serialize)]
struct InitInfo {
    webgpu: bool,
    adapter: Option<String>,
    software: Option<bool>,
    error: Option<String>,
    /// "gpu" or "cpu": where models go.
    engine: &'static str,
    reason: String,
    /// The CPU engine's description.
    cpu: String,
}

/// A network's recipe, for the training form.
#[derive(Serialize)]
struct Recipe {
    optimizer: &'static str,
    schedule: &'static str,
    lr: f32,
    batch: usize,
    epochs: usize,
}

/// One page's (or worker's) models, data, training run and kernel choices.
#[wasm_bindgen]
pub struct Session {
    state: Rc<RefCell<State>>,
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

impl Session {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.borrow_mut())
    }

    /// Installs a model on the session's engine: a fresh one of `spec`, or these values.
    async fn install_model(&self, spec: Spec, values: Option<Vec<Vec<f32>>>, seed: u64) -> Result<String, JsValue> {
        let layers = plan(&spec).map_err(js)?;
        let engine = self.with(|s| s.engine.clone());
        let name = spec.name.clone();
        let net = match &values {
            Some(v) => Net::with_values(&engine, &spec, v),
            None => Net::new(&engine, &spec, seed),
        }
        .map_err(js)?;
        let predictor = net.predictor(1).map_err(js)?;
        let tensors = net.read_tensors().await.map_err(js)?;
        self.with(|s| {
            s.trainer = None;
            s.model = Some(net);
            s.predictor = Some(predictor);
            s.views = views::Views::default();
            s.copy = Some(ModelCopy { spec, layers, tensors });
        });
        Ok(name)
    }

    /// Copies the current model's values out (after training).
    async fn refresh_copy(&self) -> Result<(), JsValue> {
        let reader = self.with(|s| s.net().map(|n| n.tensor_reader()));
        if let Some(reader) = reader {
            let tensors = reader.await.map_err(js)?;
            self.with(|s| {
                if let Some(copy) = &mut s.copy {
                    copy.tensors = tensors;
                }
            });
        }
        Ok(())
    }
}

#[wasm_bindgen]
impl Session {
    /// A session with no model and no data, its models on the CPU engine until `init`
    /// finds a hardware WebGPU adapter.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Session {
        let state = State {
            gpu: None,
            engine: Engine::Cpu,
            data: None,
            model: None,
            trainer: None,
            predictor: None,
            copy: None,
            kernel_cache: KernelCache::default(),
            views: views::Views::default(),
        };
        Session { state: Rc::new(RefCell::new(state)) }
    }

    /// Connects to WebGPU and picks the engine: WebGPU on a hardware adapter; the CPU
    /// engine where there is no WebGPU or only a software adapter (SwiftShader, WARP),
    /// which it outruns (docs/benchmarks.md). Resolves to {webgpu, adapter?, error?,
    /// software?, engine: "gpu"|"cpu", reason, cpu: the CPU engine's description}.
    pub async fn init(&self) -> Result<JsValue, JsValue> {
        let cpu = Engine::Cpu.describe();
        let info = match connect().await {
            Ok(gpu) => {
                let (adapter, software) = (gpu.describe(), gpu.is_software());
                let engine = Engine::for_adapter(&gpu);
                let reason = match engine.name() {
                    "gpu" => "a hardware WebGPU adapter",
                    _ => "the WebGPU adapter is a software one, which the CPU engine outruns",
                };
                let name = engine.name();
                self.with(|s| (s.gpu, s.engine) = (Some(gpu), engine));
                InitInfo {
                    webgpu: true,
                    adapter: Some(adapter),
                    software: Some(software),
                    error: None,
                    engine: name,
                    reason: reason.into(),
                    cpu,
                }
            }
            Err(e) => {
                self.with(|s| s.engine = Engine::Cpu);
                InitInfo {
                    webgpu: false,
                    adapter: None,
                    software: None,
                    error: Some(e),
                    engine: "cpu",
                    reason: "no usable WebGPU".into(),
                    cpu,
                }
            }
        };
        typed(&info)
    }

    /// Moves the current model to another engine ("gpu" or "cpu"), weights kept (the
    /// optimizer state starts afresh; training stops). Resolves to the engine's name.
    pub async fn set_engine(&self, name: String) -> Result<String, JsValue> {
        if name != "gpu" && name != "cpu" {
            return Err(request(&format!("no engine '{name}' (gpu, cpu)")));
        }
        let engine = Engine::named(&name, self.with(|s| s.gpu.clone())).map_err(js)?;
        // A lost device cannot be read: the last copy (taken at every model change and
        // epoch end) is what moves then.
        let _ = self.refresh_copy().await;
        let current = self.with(|s| {
            s.engine = engine;
            s.copy.as_ref().map(|c| (c.spec.clone(), c.values()))
        });
        if let Some((spec, values)) = current {
            self.install_model(spec, Some(values), 0).await?;
        }
        Ok(name)
    }

    /// Test hook: destroys this session's GPU device, as a driver reset would (the
    /// end-to-end tests force a device loss in the training worker with it).
    pub fn lose_gpu_device_for_tests(&self) {
        self.with(|s| {
            if let Some(gpu) = &s.gpu {
                gpu.device.destroy();
            }
        });
    }

    /// "none", "ok", or "lost: <reason>".
    pub fn gpu_status(&self) -> String {
        self.with(|s| match &s.gpu {
            None => "none".into(),
            Some(g) => g.lost_reason().map(|r| format!("lost: {r}")).unwrap_or_else(|| "ok".into()),
        })
    }

    /// Parses the four MNIST IDX files (already decompressed).
    pub fn load_data(&self, train_images: &[u8], train_labels: &[u8], test_images: &[u8], test_labels: &[u8]) -> Result<(), JsValue> {
        let data = Mnist::from_bytes([train_images, train_labels, test_images, test_labels]).map_err(js)?;
        self.with(|s| s.data = Some(data));
        Ok(())
    }

    /// Loads a safetensors model (validated first: on any error the current model
    /// stays). Resolves to the network's name.
    pub async fn load_model(&self, file_name: String, bytes: Vec<u8>) -> Result<String, JsValue> {
        let (spec, values) = safetensors::from_bytes(&file_name, &bytes).map_err(js)?;
        self.install_model(spec, Some(values), 0).await
    }

    /// A fresh, randomly initialized model of a preset.
    pub async fn new_model(&self, preset: String, seed: u32) -> Result<String, JsValue> {
        let spec = Spec::preset(&preset).ok_or_else(|| request(&format!("no preset '{preset}'")))?;
        self.install_model(spec, None, seed as u64).await
    }

    /// Replaces the current model's weights with a file's (the same network), keeping any
    /// trainer and its optimizer state: how the page follows the worker's training, and
    /// the worker takes weights fine-tuned on the page.
    pub fn update_weights(&self, bytes: Vec<u8>) -> Result<(), JsValue> {
        let (spec, values) = safetensors::from_bytes("weights", &bytes).map_err(js)?;
        self.with(|s| {
            let net = s.net_or_err()?;
            if net.spec().layers != spec.layers {
                return Err(error::error(error::Kind::BadFile, "these weights belong to another network"));
            }
            net.write_tensors(&values);
            if let Some(copy) = &mut s.copy {
                copy.tensors.iter_mut().zip(values).for_each(|((_, v), new)| *v = new);
            }
            Ok(())
        })
    }

    /// The current model as safetensors bytes (what the command line writes).
    pub async fn model_bytes(&self) -> Result<Vec<u8>, JsValue> {
        self.refresh_copy().await?;
        self.with(|s| s.copy.as_ref().map(|c| safetensors::to_bytes(&c.spec, &c.tensors))).ok_or_else(|| state("no model loaded"))
    }

    /// A Keras-style summary of the current model.
    pub fn model_summary(&self) -> Result<String, JsValue> {
        self.with(|s| s.copy.as_ref().map(|c| summary(&c.spec))).ok_or_else(|| state("no model loaded"))?.map_err(js)
    }

    /// The drawing (`ink`: width * height values in 0..1) as the 28x28 input, or nothing
    /// for an empty canvas; rejects sizes that do not match the values.
    pub fn preprocess(&self, ink: &[f32], width: usize, height: usize) -> Result<Option<Vec<f32>>, JsValue> {
        crate::preprocess::preprocess(ink, width, height).map_err(|e| error::error(error::Kind::BadFile, &e))
    }

    /// Probabilities of 0..9 for one 28x28 image (values 0..1), on the model's engine; on
    /// the reference network when the GPU device was lost.
    pub async fn predict(&self, image: Vec<f32>) -> Result<Vec<f32>, JsValue> {
        let pending = self.with(|s| match s.net_and_predictor() {
            Some((net, predictor)) if net.device_lost().is_none() => Some(predictor.submit(net, &image)),
            _ => None,
        });
        if let Some(pending) = pending {
            return pending.await.map_err(js);
        }
        self.with(|s| {
            let copy = s.copy.as_ref().ok_or_else(|| state("no model loaded"))?;
            if image.len() != 784 {
                return Err(js(Error::Shape(format!("an image is 784 values, not {}", image.len()))));
            }
            let logits = crate::model::reference::forward(&copy.layers, &copy.tensors, 1, &image);
            Ok(crate::reference::softmax_xent::softmax(1, 10, &logits))
        })
    }

    /// The presets, for the picker.
    pub fn presets(&self) -> Vec<String> {
        crate::model::PRESETS.iter().map(|s| s.to_string()).collect()
    }

    /// A preset's recipe: {optimizer, schedule, lr, batch, epochs}.
    pub fn preset_recipe(&self, name: &str) -> Result<JsValue, JsValue> {
        let s = Spec::preset(name).ok_or_else(|| request(&format!("no preset '{name}'")))?;
        typed(&Recipe {
            optimizer: s.optimizer.name(),
            schedule: s.schedule.name(),
            lr: s.optimizer.lr(),
            batch: s.batch,
            epochs: s.epochs,
        })
    }
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
