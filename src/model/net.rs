//! The seam between the two engines: which one runs (`Engine`) and a network resident on
//! it (`Net`). The trainer, the command line and the benchmark hold these and do not care
//! which engine is behind them.

use super::{CpuModel, Model, Planned, Spec, Tensor};
use crate::error::Error;
use crate::gpu::Gpu;

/// Where a network runs: a WebGPU/wgpu device, or the CPU engine (`crate::cpu`).
// One value per trainer or session, never in a collection: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Engine {
    Gpu(Gpu),
    Cpu,
}

impl Engine {
    /// One line for logs: the adapter, or the CPU engine's GEMM kernel and threads.
    pub fn describe(&self) -> String {
        match self {
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
            Engine::Gpu(_) => "gpu",
            Engine::Cpu => "cpu",
        }
    }
}

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
        match choice {
            EngineChoice::Cpu => Ok((Engine::Cpu, "as asked".into())),
            EngineChoice::Gpu => {
                let gpu = Gpu::new().await?;
                Ok((Engine::Gpu(gpu), "as asked".into()))
            }
            EngineChoice::Auto => match Gpu::new().await {
                Ok(gpu) if !gpu.is_software() => Ok((Engine::Gpu(gpu), "a hardware GPU adapter was found".into())),
                Ok(gpu) => {
                    Ok((Engine::Cpu, format!("the only GPU adapter, {}, is a software one, which the CPU engine outruns", gpu.describe())))
                }
                Err(e) => Ok((Engine::Cpu, format!("there is no usable GPU: {e}"))),
            },
        }
    }
}

/// A network on one engine.
// One value per trainer or session, never in a collection: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Net {
    Gpu(Model),
    Cpu(CpuModel),
}

impl Net {
    /// A freshly initialized network: the same values on either engine for a seed.
    pub fn new(engine: &Engine, spec: &Spec, seed: u64) -> Result<Net, Error> {
        Ok(match engine {
            Engine::Gpu(gpu) => Net::Gpu(Model::new(gpu, spec, seed)?),
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
            Net::Gpu(m) => Engine::Gpu(m.gpu.clone()),
            Net::Cpu(_) => Engine::Cpu,
        }
    }

    pub fn spec(&self) -> &Spec {
        match self {
            Net::Gpu(m) => &m.spec,
            Net::Cpu(m) => &m.spec,
        }
    }

    pub fn layers(&self) -> &[Planned] {
        match self {
            Net::Gpu(m) => &m.layers,
            Net::Cpu(m) => &m.layers,
        }
    }

    pub fn tensors(&self) -> &[Tensor] {
        match self {
            Net::Gpu(m) => &m.tensors,
            Net::Cpu(m) => &m.tensors,
        }
    }

    /// Every tensor's values (for saving), in state-dict order.
    pub async fn read_tensors(&self) -> Result<Vec<(Tensor, Vec<f32>)>, Error> {
        match self {
            Net::Gpu(m) => m.read_tensors().await,
            Net::Cpu(m) => Ok(m.read_tensors()),
        }
    }

    /// Overwrites every tensor (for loading); the values must match `tensors` in order.
    pub fn write_tensors(&mut self, values: &[Vec<f32>]) {
        match self {
            Net::Gpu(m) => m.write_tensors(values),
            Net::Cpu(m) => m.write_tensors(values),
        }
    }

    /// Zeroes the optimizer state and step counter (a new optimizer run).
    pub fn clear_optimizer(&mut self) {
        match self {
            Net::Gpu(m) => m.clear_optimizer(),
            Net::Cpu(m) => m.clear_optimizer(),
        }
    }

    /// The optimizer's step counter and state (flat, in the engine's layout: read per
    /// tensor through `tensors()` offsets).
    pub async fn read_optimizer(&self) -> Result<(u32, [Vec<f32>; 2]), Error> {
        match self {
            Net::Gpu(m) => m.read_optimizer().await,
            Net::Cpu(m) => Ok(m.read_optimizer()),
        }
    }

    /// Restores the optimizer's step counter and state (flat, in the engine's layout).
    pub fn write_optimizer(&mut self, step: u32, state: &[Vec<f32>; 2]) {
        match self {
            Net::Gpu(m) => m.write_optimizer(step, state),
            Net::Cpu(m) => m.write_optimizer(step, state),
        }
    }

    /// The seed of the dropout masks (with the step counter, it fixes every mask).
    pub fn dropout_seed(&self) -> u32 {
        match self {
            Net::Gpu(m) => m.seed,
            Net::Cpu(m) => m.seed,
        }
    }

    /// Sets the dropout seed; graphs built afterwards use it (a resumed checkpoint's).
    pub fn set_dropout_seed(&mut self, seed: u32) {
        match self {
            Net::Gpu(m) => m.seed = seed,
            Net::Cpu(m) => m.seed = seed,
        }
    }

    /// The GPU model, if this network is on the GPU.
    pub fn as_gpu(&self) -> Option<&Model> {
        match self {
            Net::Gpu(m) => Some(m),
            Net::Cpu(_) => None,
        }
    }

    /// Words of the flat parameter buffer (and each optimizer-state buffer), alignment
    /// gaps included.
    pub fn param_words(&self) -> usize {
        match self {
            Net::Gpu(m) => m.param_words,
            Net::Cpu(m) => m.params.len(),
        }
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.tensors().iter().filter(|t| t.trainable).map(|t| t.len).sum()
    }
}
