//! The seam between the engines: which one runs (`Engine`) and a network resident on it
//! (`Net`). The trainer, the command line, the benchmark and the page hold these (and
//! `exec`'s `Exec` and `Predictor`) and never match on the engine: every match on an
//! engine is in this module and `exec`. Without the `gpu` feature only the CPU engine
//! is built.

use std::future::Future;

#[cfg(feature = "gpu")]
use super::GpuModel;
use super::{CpuModel, Planned, Predictor, Spec, Tensor};
use crate::data::Mnist;
use crate::error::Error;
#[cfg(feature = "gpu")]
use crate::gpu::Gpu;
#[cfg(feature = "gpu")]
use crate::ops::{choice::Kernel, kernel_cache::KernelCache, tune::Tuned};

/// Where a network runs: a WebGPU/wgpu device, or the CPU engine (`crate::cpu`).
// One value per trainer or session, never in a collection: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Engine {
    #[cfg(feature = "gpu")]
    Gpu(Gpu),
    Cpu,
}

impl Engine {
    /// One line for logs: the adapter, or the CPU engine's GEMM kernel and threads.
    pub fn describe(&self) -> String {
        match self {
            #[cfg(feature = "gpu")]
            Engine::Gpu(gpu) => gpu.describe(),
            Engine::Cpu => format!(
                "CPU engine ({} GEMM kernel, {} thread{})",
                crate::cpu::gemm::kernel_name(),
                crate::cpu::par::threads(),
                if crate::cpu::par::threads() == 1 { "" } else { "s" }
            ),
        }
    }

    /// "gpu" or "cpu".
    pub fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "gpu")]
            Engine::Gpu(_) => "gpu",
            Engine::Cpu => "cpu",
        }
    }

    /// The GPU this engine runs on, if it is the GPU engine.
    #[cfg(feature = "gpu")]
    pub fn gpu(&self) -> Option<&Gpu> {
        match self {
            #[cfg(feature = "gpu")]
            Engine::Gpu(gpu) => Some(gpu),
            Engine::Cpu => None,
        }
    }

    /// The measured f32 peak in GFLOP/s: the adapter's (`ops::profile::peak_gflops`), or
    /// the CPU's multiply-add peak on the engine's threads with its best ISA
    /// (`cpu::peak`; None where the engine has no SIMD kernels).
    pub async fn peak_gflops(&self) -> Result<Option<f64>, Error> {
        match self {
            #[cfg(feature = "gpu")]
            Engine::Gpu(gpu) => Ok(Some(crate::ops::profile::peak_gflops(gpu).await?)),
            Engine::Cpu => Ok(crate::cpu::peak::best(crate::cpu::par::threads()).map(|p| p.gflops)),
        }
    }

    /// Every engine this machine has, GPU first (a benchmark's "both"), and why the GPU
    /// engine is missing when it is.
    pub async fn all() -> (Vec<Engine>, Option<String>) {
        #[cfg(feature = "gpu")]
        match Gpu::new().await {
            Ok(gpu) => (vec![Engine::Gpu(gpu), Engine::Cpu], None),
            Err(e) => (vec![Engine::Cpu], Some(e.to_string())),
        }
        #[cfg(not(feature = "gpu"))]
        (vec![Engine::Cpu], Some(NO_GPU_BUILD.into()))
    }
}

/// Why a build without the `gpu` feature has no GPU engine.
#[cfg(not(feature = "gpu"))]
const NO_GPU_BUILD: &str = "this build has no GPU engine (built without the `gpu` feature)";

/// Which engine a person asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    /// A hardware GPU if there is one, else the CPU engine.
    Auto,
    Gpu,
    Cpu,
}

impl std::str::FromStr for EngineChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(EngineChoice::Auto),
            "gpu" => Ok(EngineChoice::Gpu),
            "cpu" => Ok(EngineChoice::Cpu),
            other => Err(format!("no engine '{other}' (gpu, cpu, auto)")),
        }
    }
}

impl Engine {
    /// The engine for a choice, and why it was picked. `auto` takes a hardware GPU and
    /// leaves software adapters (lavapipe, SwiftShader) and machines without an adapter
    /// to the CPU engine, which trains faster than they do (docs/benchmarks.md).
    pub async fn choose(choice: EngineChoice) -> Result<(Engine, String), Error> {
        #[cfg(not(feature = "gpu"))]
        return match choice {
            EngineChoice::Cpu => Ok((Engine::Cpu, "as asked".into())),
            EngineChoice::Gpu => Err(Error::NoGpu(NO_GPU_BUILD.into())),
            EngineChoice::Auto => Ok((Engine::Cpu, NO_GPU_BUILD.into())),
        };
        #[cfg(feature = "gpu")]
        match choice {
            EngineChoice::Cpu => Ok((Engine::Cpu, "as asked".into())),
            EngineChoice::Gpu => {
                let gpu = Gpu::new().await?;
                Ok((Engine::Gpu(gpu), "as asked".into()))
            }
            EngineChoice::Auto => match Gpu::new().await {
                Ok(gpu) => match Engine::for_adapter(&gpu) {
                    Engine::Cpu => Ok((
                        Engine::Cpu,
                        format!("the only GPU adapter, {}, is a software one, which the CPU engine outruns", gpu.describe()),
                    )),
                    engine => Ok((engine, "a hardware GPU adapter was found".into())),
                },
                Err(e) => Ok((Engine::Cpu, format!("there is no usable GPU: {e}"))),
            },
        }
    }

    /// The engine `auto` picks given an adapter: the GPU if it is hardware, the CPU engine
    /// if it is a software one (lavapipe, SwiftShader, WARP), which the CPU engine outruns
    /// (docs/benchmarks.md).
    #[cfg(feature = "gpu")]
    pub fn for_adapter(gpu: &Gpu) -> Engine {
        if gpu.is_software() {
            Engine::Cpu
        } else {
            Engine::Gpu(gpu.clone())
        }
    }

    /// The engine named "gpu" (on `gpu`, which must be there and not lost) or "cpu".
    #[cfg(feature = "gpu")]
    pub fn named(name: &str, gpu: Option<Gpu>) -> Result<Engine, Error> {
        match name {
            "cpu" => Ok(Engine::Cpu),
            "gpu" => match gpu {
                Some(gpu) if gpu.lost_reason().is_none() => Ok(Engine::Gpu(gpu)),
                Some(gpu) => Err(Error::DeviceLost(gpu.lost_reason().unwrap_or_default())),
                None => Err(Error::NoGpu("there is no usable WebGPU device here".into())),
            },
            other => Err(Error::Shape(format!("no engine '{other}' (gpu, cpu)"))),
        }
    }
}

/// A network on one engine.
// One value per trainer or session, never in a collection: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Net {
    #[cfg(feature = "gpu")]
    Gpu(GpuModel),
    Cpu(CpuModel),
}

impl Net {
    /// A freshly initialized network: the same values on either engine for a seed.
    pub fn new(engine: &Engine, spec: &Spec, seed: u64) -> Result<Net, Error> {
        Ok(match engine {
            #[cfg(feature = "gpu")]
            Engine::Gpu(gpu) => Net::Gpu(GpuModel::new(gpu, spec, seed)?),
            Engine::Cpu => Net::Cpu(CpuModel::new(spec, seed)?),
        })
    }

    /// A network with the given tensor values (in `tensors` order, as files hold them).
    pub fn with_values(engine: &Engine, spec: &Spec, values: &[Vec<f32>]) -> Result<Net, Error> {
        let mut net = Net::new(engine, spec, 0)?;
        net.write_tensors(values);
        Ok(net)
    }

    pub fn engine(&self) -> Engine {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => Engine::Gpu(m.gpu.clone()),
            Net::Cpu(_) => Engine::Cpu,
        }
    }

    pub fn spec(&self) -> &Spec {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => &m.spec,
            Net::Cpu(m) => &m.spec,
        }
    }

    pub fn layers(&self) -> &[Planned] {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => &m.layers,
            Net::Cpu(m) => &m.layers,
        }
    }

    pub fn tensors(&self) -> &[Tensor] {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => &m.tensors,
            Net::Cpu(m) => &m.tensors,
        }
    }

    /// Every tensor's values (for saving), in state-dict order.
    pub async fn read_tensors(&self) -> Result<Vec<(Tensor, Vec<f32>)>, Error> {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.read_tensors().await,
            Net::Cpu(m) => Ok(m.read_tensors()),
        }
    }

    /// Overwrites every tensor (for loading); the values must match `tensors` in order.
    pub fn write_tensors(&mut self, values: &[Vec<f32>]) {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.write_tensors(values),
            Net::Cpu(m) => m.write_tensors(values),
        }
    }

    /// Zeroes the optimizer state and step counter (a new optimizer run).
    pub fn clear_optimizer(&mut self) {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.clear_optimizer(),
            Net::Cpu(m) => m.clear_optimizer(),
        }
    }

    /// The optimizer's step counter and state (flat, in the engine's layout: read per
    /// tensor through `tensors()` offsets).
    pub async fn read_optimizer(&self) -> Result<(u32, [Vec<f32>; 2]), Error> {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.read_optimizer().await,
            Net::Cpu(m) => Ok(m.read_optimizer()),
        }
    }

    /// Restores the optimizer's step counter and state (flat, in the engine's layout).
    pub fn write_optimizer(&mut self, step: u32, state: &[Vec<f32>; 2]) {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.write_optimizer(step, state),
            Net::Cpu(m) => m.write_optimizer(step, state),
        }
    }

    /// The seed of the dropout masks (with the step counter, it fixes every mask).
    pub fn dropout_seed(&self) -> u32 {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.seed,
            Net::Cpu(m) => m.seed,
        }
    }

    /// Sets the dropout seed; graphs built afterwards use it (a resumed checkpoint's).
    pub fn set_dropout_seed(&mut self, seed: u32) {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.seed = seed,
            Net::Cpu(m) => m.seed = seed,
        }
    }

    /// The GPU model, if this network is on the GPU.
    #[cfg(feature = "gpu")]
    pub fn as_gpu(&self) -> Option<&GpuModel> {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => Some(m),
            Net::Cpu(_) => None,
        }
    }

    /// Words of the flat parameter buffer (and each optimizer-state buffer), alignment
    /// gaps included.
    pub fn param_words(&self) -> usize {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.param_words,
            Net::Cpu(m) => m.params.len(),
        }
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.tensors().iter().filter(|t| t.trainable).map(|t| t.len).sum()
    }

    /// A prepared prediction of `batch` images at a time.
    pub fn predictor(&self, batch: usize) -> Result<Predictor, Error> {
        Predictor::new(self, batch)
    }

    /// `read_tensors` as a future that does not borrow the network (the page awaits it
    /// without holding its state).
    pub fn tensor_reader(&self) -> impl Future<Output = Result<Vec<(Tensor, Vec<f32>)>, Error>> + 'static {
        #[cfg(feature = "gpu")]
        type Later = super::TensorReader;
        #[cfg(not(feature = "gpu"))]
        type Later = std::convert::Infallible;
        let read: Result<Vec<(Tensor, Vec<f32>)>, Later> = match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => Err(m.tensor_reader()),
            Net::Cpu(m) => Ok(m.read_tensors()),
        };
        async move {
            match read {
                Ok(values) => Ok(values),
                #[cfg(feature = "gpu")]
                Err(reader) => reader.read().await,
                #[cfg(not(feature = "gpu"))]
                Err(never) => match never {},
            }
        }
    }

    /// Chooses the kernel of each convolution and dense pass at `batch` (`ops::tune`),
    /// timing what `cache` does not know; nothing to choose on the CPU engine.
    #[cfg(feature = "gpu")]
    pub async fn autotune(&mut self, batch: usize, cache: &mut KernelCache) -> Result<Vec<Tuned>, Error> {
        match self {
            Net::Gpu(m) => m.autotune(batch, cache).await,
            Net::Cpu(_) => Ok(Vec::new()),
        }
    }

    /// Makes every convolution of graphs built from now on run `kernel` (GPU; None: each
    /// pass its chosen kernel). The CPU engine picks its own algorithms.
    #[cfg(feature = "gpu")]
    pub fn force_conv(&mut self, kernel: Option<Kernel>) {
        if let (Net::Gpu(m), Some(k)) = (self, kernel) {
            m.kernels.forced_conv = Some(k);
        }
    }

    /// The time of each part of one training step at `batch` (ms): each GPU dispatch
    /// alone (median of 3 runs), or each CPU layer and pass (median of `cpu_steps` steps);
    /// with a title that says which.
    pub async fn step_profile(
        &mut self,
        data: &Mnist,
        batch: usize,
        cpu_steps: usize,
    ) -> Result<(Vec<(String, f64)>, &'static str), Error> {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => {
                let _ = data;
                let graph = m.profile_graph(batch)?;
                let rows = crate::ops::profile::kernel_profile(&m.gpu, &graph.train_step_dispatches(), 3).await?;
                Ok((rows.into_iter().map(|(l, ms)| (l.to_string(), ms)).collect(), "per kernel (ms, each dispatch alone)"))
            }
            Net::Cpu(m) => Ok((super::cpu::step_profile(m, data, batch, cpu_steps)?, "by layer and pass (ms, median of the steps)")),
        }
    }

    /// The time of each dispatch of a prediction of `batch` images (GPU; empty on the CPU
    /// engine).
    pub async fn predict_profile(&self, batch: usize) -> Result<Vec<(String, f64)>, Error> {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => {
                let graph = super::Graph::new(m, batch, None)?;
                let rows = crate::ops::profile::kernel_profile(&m.gpu, &graph.predict_dispatches(), 1).await?;
                Ok(rows.into_iter().map(|(l, ms)| (l.to_string(), ms)).collect())
            }
            Net::Cpu(_) => {
                let _ = batch;
                Ok(Vec::new())
            }
        }
    }

    /// Why the device under this network was lost, if it was (never on the CPU engine).
    pub fn device_lost(&self) -> Option<String> {
        match self {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => m.gpu.lost_reason(),
            Net::Cpu(_) => None,
        }
    }

    /// Test hook: destroys the GPU device under this network, as a driver reset would.
    pub fn lose_device_for_tests(&self) {
        #[cfg(feature = "gpu")]
        if let Net::Gpu(m) = self {
            m.gpu.device.destroy();
        }
    }
}
