//! The page's benchmark (the same measurements as `wgpu-mnist bench`), the engine
//! self-test, and the autotuner with the kernel cache the page keeps in IndexedDB.

use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::prelude::*;

use super::error::{js, request, state, typed};
use super::Session;
use crate::benchmark::Prepare;
use crate::model::{Engine, Net, Spec};
use crate::ops::choice::Kernel;
use crate::ops::kernel_cache::KernelCache;
use crate::ops::tune::Tuned;
use crate::Error;

/// What scripts/bench-browser.mjs asks `benchmark` for; a field not listed here is an error.
#[derive(Deserialize)]
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

#[derive(Clone, Copy, Default, PartialEq, Deserialize)]
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

/// The CPU's multiply-add peak in this build (`cpu::peak`: simd128, fused where the build
/// has relaxed SIMD), one thread: {isa, gflops}, or null without SIMD kernels.
#[wasm_bindgen]
pub fn cpu_peak() -> Result<JsValue, JsValue> {
    let peak =
        crate::cpu::peak::measure(crate::cpu::simd::Isa::best().ok_or_else(|| state("this build has no SIMD kernels"))?, 1, 15, 40.0);
    typed(&peak.map(|p| json!({ "isa": p.isa, "gflops": p.gflops })))
}

#[wasm_bindgen]
impl Session {
    /// The in-browser benchmark (the same code as `wgpu-mnist bench`). `config` is a
    /// `BenchmarkRequest` as JSON; needs init() and load_data() first. Resolves to JSON
    /// {adapter, rows: [{model, batch, train_images_per_s, infer_1_ms, infer_1000_ms}],
    /// profiles: [{model, batch, kernels: [[label, ms], ..], kernels_chosen: [Tuned, ..]}]}.
    /// Unless `conv` forces a kernel, each training network is autotuned first (through the
    /// kernel cache, like `autotune`).
    pub async fn benchmark(&self, config: JsValue) -> Result<JsValue, JsValue> {
        let c: BenchmarkRequest = serde_wasm_bindgen::from_value(config).map_err(|e| request(&format!("benchmark: {e}")))?;
        let (gpu, data) = self.with(|s| (s.gpu.clone(), s.data.clone()));
        let data = data.ok_or_else(|| state("the data set is not loaded yet"))?;
        let engine = match c.engine {
            BenchmarkEngine::Gpu => Engine::named("gpu", gpu).map_err(js)?,
            BenchmarkEngine::Cpu => Engine::Cpu,
        };
        let specs = c
            .models
            .iter()
            .map(|name| Spec::preset(name).ok_or_else(|| request(&format!("no preset {name}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let peak = engine.peak_gflops().await.map_err(js)?;
        // Every network measured here builds its graphs with the asked-for convolutions, or
        // (none asked for) the kernels timed fastest at the batch it trains at.
        let mut prepare = PagePrepare { session: self, conv: c.conv };
        let rows =
            crate::benchmark::rows(&engine, &specs, &c.batches, c.windows(), c.images(), &data, &mut prepare, |_| {}).await.map_err(js)?;
        let mut profiles = Vec::new();
        if c.profile {
            let batch = c.profile_batch();
            for spec in &specs {
                let mut tuned = prepare.network(&engine, spec).map_err(js)?;
                let chosen = self.tune_with_cache(&mut tuned, batch).await.map_err(js)?;
                let (kernels, _) = tuned.step_profile(&data, batch, 3).await.map_err(js)?;
                // The 1,000-image prediction as `inference_latency` ran it: untuned kernels.
                let inference = prepare.network(&engine, spec).map_err(js)?.predict_profile(1000).await.map_err(js)?;
                profiles.push(
                    json!({ "model": spec.name, "batch": batch, "kernels": kernels, "kernels_chosen": chosen, "inference": inference }),
                );
            }
        }
        let conv = c.conv.map_or("default", Kernel::name);
        typed(&json!({ "adapter": engine.describe(), "peak_gflops": peak, "conv": conv, "rows": rows, "profiles": profiles }))
    }

    /// The headline benchmark in the browser (the same code as `wgpu-mnist bench
    /// --time-to-accuracy`): trains `preset` by its recipe on `engine` ("gpu" or "cpu"; the CPU
    /// engine on this thread) and resolves to JSON {batch, setup_s, reached: [s to 98%, s to
    /// 99%] (null: not reached), trained_s, epochs, checks, last_accuracy}. Needs init() and
    /// load_data() first.
    pub async fn benchmark_time_to_accuracy(&self, engine: String, preset: String, checks_per_epoch: usize) -> Result<JsValue, JsValue> {
        let (gpu, data) = self.with(|s| (s.gpu.clone(), s.data.clone()));
        let data = data.ok_or_else(|| state("the data set is not loaded yet"))?;
        if engine != "gpu" && engine != "cpu" {
            return Err(request(&format!("no engine {engine:?} (gpu or cpu)")));
        }
        let engine = Engine::named(&engine, gpu).map_err(js)?;
        let spec = Spec::preset(&preset).ok_or_else(|| request(&format!("no preset {preset}")))?;
        let mut net = Net::new(&engine, &spec, 1).map_err(js)?;
        self.tune_with_cache(&mut net, spec.batch).await.map_err(js)?;
        let r = crate::benchmark::time_to_accuracy(net, &data, &[0.98, 0.99], checks_per_epoch).await.map_err(js)?;
        typed(&r)
    }

    /// Runs every engine case (each op against its f64 reference) on the CPU engine and,
    /// with WebGPU, on the GPU; resolves to a JSON array of {name, engine, ok, max_rel_err,
    /// max_fd_err, shapes, error}.
    pub async fn engine_selftest(&self) -> Result<JsValue, JsValue> {
        let gpu = self.with(|s| s.gpu.clone());
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
        typed(&rows)
    }

    /// Chooses the kernel of each convolution and dense pass of the current GPU model's
    /// training graph at `batch` (`ops::tune`): times what the kernel cache does not know
    /// and adds it there. Call it after new_model/load_model and before start_training (a
    /// graph built first runs the adapter's defaults); then save `kernel_cache()`. Resolves
    /// to JSON [{layer, pass, key, kernel, ms: [[kernel, ms], ..], cached}, ..] ([] on the
    /// CPU engine). Each call times for at most about 30 s; passes left over come back with
    /// empty `ms`, run their default kernel, and are timed by the next call.
    pub async fn autotune(&self, batch: usize) -> Result<JsValue, JsValue> {
        if self.with(|s| s.trainer.is_some()) {
            return Err(state("autotune: call it before start_training (the trainer has built its graphs)"));
        }
        let Some(mut net) = self.with(|s| s.model.take()) else { return Err(state("autotune: no model loaded")) };
        // Taken out while the GPU times kernels (the page serializes its wasm calls meanwhile).
        let tuned = self.tune_with_cache(&mut net, batch).await;
        self.with(|s| s.model = Some(net));
        typed(&tuned.map_err(js)?)
    }

    /// The autotuner's cache as JSON, for the page to keep in IndexedDB (after `autotune`
    /// or `benchmark`, whenever it grew).
    pub fn kernel_cache(&self) -> String {
        self.with(|s| s.kernel_cache.to_json())
    }

    /// Restores the cache `kernel_cache` gave (call it once after init, before any
    /// `autotune`). A malformed one is refused with a message and the cache stays as it
    /// was: the page should then delete its stored copy. A cache of an older format is
    /// accepted as empty.
    pub fn set_kernel_cache(&self, json: &str) -> Result<(), JsValue> {
        let cache = KernelCache::from_json(json).map_err(js)?;
        self.with(|s| s.kernel_cache = cache);
        Ok(())
    }
}

impl Session {
    /// `Net::autotune` through the state's kernel cache.
    async fn tune_with_cache(&self, net: &mut Net, batch: usize) -> Result<Vec<Tuned>, Error> {
        let mut cache = self.with(|s| std::mem::take(&mut s.kernel_cache));
        let tuned = net.autotune(batch, &mut cache).await;
        self.with(|s| s.kernel_cache = cache);
        tuned
    }
}

/// The page's networks: kernels chosen through the session's kernel cache, convolutions
/// forced to one kernel when the request says so.
struct PagePrepare<'a> {
    session: &'a Session,
    conv: Option<Kernel>,
}

impl Prepare for PagePrepare<'_> {
    fn network(&mut self, engine: &Engine, spec: &Spec) -> Result<Net, Error> {
        let mut net = Net::new(engine, spec, 1)?;
        net.force_conv(self.conv);
        Ok(net)
    }
    async fn tune(&mut self, net: &mut Net, batch: usize) -> Result<(), Error> {
        self.session.tune_with_cache(net, batch).await.map(|_| ())
    }
}
