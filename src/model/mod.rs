//! A network on the GPU: its parameters in one flat buffer (so one optimizer dispatch
//! updates them all), and graphs that record its forward and backward passes.

pub mod cpu;
pub mod graph;
pub mod init;
pub mod kernel_cache;
pub mod net;
pub mod plan;
pub mod safetensors;
pub mod spec;
pub mod tune;

use crate::error::Error;
use crate::gpu::Gpu;
use crate::ops::choice::Choices;
use crate::ops::View;
use crate::rng::Rng;
pub use cpu::{CpuGraph, CpuModel};
pub use graph::Graph;
pub use net::{Engine, EngineChoice, Net};
pub use plan::{plan, summary, Planned, CLASSES, INPUT};
pub use spec::{Layer, Spec, PRESETS};

/// A GPU model's parameter and state buffers and its tensor list: `Model::read_tensors`
/// without the model.
pub struct TensorReader {
    gpu: Gpu,
    params: View,
    state: View,
    tensors: Vec<Tensor>,
}

impl TensorReader {
    /// Every tensor's values, in state-dict order.
    pub async fn read(&self) -> Result<Vec<(Tensor, Vec<f32>)>, Error> {
        let params: Vec<f32> = self.params.read(&self.gpu).await?;
        let state: Vec<f32> = self.state.read(&self.gpu).await?;
        Ok(named_values(&self.tensors, &params, &state))
    }
}

/// The predicted class of each row of `probs` ([n, CLASSES]): the first largest value, as
/// the accuracy counts of both engines and the reference take it.
pub fn predicted_classes(probs: &[f32]) -> impl Iterator<Item = usize> + '_ {
    probs.chunks(CLASSES).map(|row| (0..row.len()).fold(0, |best, j| if row[j] > row[best] { j } else { best }))
}

/// One named tensor of the state dict and where it lives.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// In the parameter buffer (trainable) or the state buffer (running statistics).
    pub trainable: bool,
    /// Offset in words, aligned for binding.
    pub offset: u64,
    pub len: usize,
}

/// A network's spec, layers and parameters, resident on the GPU.
pub struct Model {
    pub gpu: Gpu,
    pub spec: Spec,
    pub layers: Vec<Planned>,
    pub tensors: Vec<Tensor>,
    pub params: wgpu::Buffer,
    pub grads: wgpu::Buffer,
    /// Optimizer state (momentum, Adam's moments, ...), as long as `params`.
    pub opt_state: [wgpu::Buffer; 2],
    /// Running statistics of batch norm layers.
    pub state: wgpu::Buffer,
    /// The training step counter (one u32): Adam's bias correction, dropout masks.
    pub step: View,
    pub param_words: usize,
    pub state_words: usize,
    /// Seeds the dropout masks.
    pub seed: u32,
    /// The kernel of each convolution and dense pass of the graphs built from this model:
    /// timed on the adapter by `tune::autotune` before a graph is built, else the
    /// adapter's default (the page's benchmark can force the convolutions' kernel).
    pub kernels: Choices,
}

impl Model {
    /// A freshly initialized network (framework-default init, seeded).
    pub fn new(gpu: &Gpu, spec: &Spec, seed: u64) -> Result<Model, Error> {
        let layers = plan::plan(spec)?;
        let align = (gpu.limits.min_storage_buffer_offset_alignment as u64 / 4).max(1);
        let (tensors, param_words, state_words) = layout(&layers, align);
        let model = Model {
            gpu: gpu.clone(),
            spec: spec.clone(),
            layers,
            params: gpu.storage("params", param_words)?,
            grads: gpu.storage("grads", param_words)?,
            opt_state: [gpu.storage("optimizer state 1", param_words)?, gpu.storage("optimizer state 2", param_words)?],
            state: gpu.storage("batchnorm running stats", state_words)?,
            step: View::new(gpu, "step", 1)?,
            tensors,
            param_words,
            state_words,
            seed: dropout_seed(seed),
            kernels: Choices::for_adapter(&gpu.adapter_info),
        };
        model.reset(seed);
        Ok(model)
    }

    /// Re-initializes every parameter and clears the optimizer state and step counter.
    pub fn reset(&self, seed: u64) {
        let (params, state) = initial_values(&self.spec, &self.layers, &self.tensors, self.param_words, self.state_words, seed);
        self.gpu.write(&self.params, 0, &params);
        self.gpu.write(&self.state, 0, &state);
        self.clear_optimizer();
    }

    /// Zeroes the optimizer state, gradients and step counter (a new optimizer run).
    pub fn clear_optimizer(&self) {
        let zeros = vec![0f32; self.param_words];
        for b in [&self.grads, &self.opt_state[0], &self.opt_state[1]] {
            self.gpu.write(b, 0, &zeros);
        }
        self.step.write(&self.gpu, &[0u32]);
    }

    /// The view of a named tensor.
    pub fn view(&self, name: &str) -> View {
        let t = self.tensors.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no tensor {name}"));
        View::range(if t.trainable { &self.params } else { &self.state }, t.offset, t.len)
    }

    /// The view of `layer.what`, e.g. ("conv1", "weight").
    pub fn param(&self, layer: &str, what: &str) -> View {
        self.view(&format!("{layer}.{what}"))
    }

    /// The gradient view of `layer.what`.
    pub fn param_grad(&self, layer: &str, what: &str) -> View {
        self.grad(&format!("{layer}.{what}"))
    }

    /// The gradient view of a trainable tensor.
    pub fn grad(&self, name: &str) -> View {
        let t = self.tensors.iter().find(|t| t.name == name && t.trainable).unwrap_or_else(|| panic!("no parameter {name}"));
        View::range(&self.grads, t.offset, t.len)
    }

    /// Every tensor's values, read back (for saving).
    pub async fn read_tensors(&self) -> Result<Vec<(Tensor, Vec<f32>)>, Error> {
        self.tensor_reader().read().await
    }

    /// What reading the tensors back needs, apart from the model: the page takes it out
    /// of its state and awaits the read without holding the model borrowed.
    pub fn tensor_reader(&self) -> TensorReader {
        TensorReader {
            gpu: self.gpu.clone(),
            params: View::range(&self.params, 0, self.param_words),
            state: View::range(&self.state, 0, self.state_words),
            tensors: self.tensors.clone(),
        }
    }

    /// Overwrites every tensor (for loading); the values must match `tensors` in order.
    pub fn write_tensors(&self, values: &[Vec<f32>]) {
        for (t, v) in self.tensors.iter().zip(values) {
            self.gpu.write(if t.trainable { &self.params } else { &self.state }, t.offset, v);
        }
    }

    /// The optimizer's step counter and state buffers (flat, in this model's layout).
    pub async fn read_optimizer(&self) -> Result<(u32, [Vec<f32>; 2]), Error> {
        let step: Vec<u32> = self.step.read(&self.gpu).await?;
        let s1 = self.gpu.read(&self.opt_state[0], 0, self.param_words).await?;
        let s2 = self.gpu.read(&self.opt_state[1], 0, self.param_words).await?;
        Ok((step[0], [s1, s2]))
    }

    /// Restores what `read_optimizer` gave (in this model's layout).
    pub fn write_optimizer(&self, step: u32, state: &[Vec<f32>; 2]) {
        self.gpu.write(&self.opt_state[0], 0, &state[0]);
        self.gpu.write(&self.opt_state[1], 0, &state[1]);
        self.step.write(&self.gpu, &[step]);
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.tensors.iter().filter(|t| t.trainable).map(|t| t.len).sum()
    }
}

/// Each tensor with its values, cut from the flat parameter and state buffers.
pub fn named_values(tensors: &[Tensor], params: &[f32], state: &[f32]) -> Vec<(Tensor, Vec<f32>)> {
    tensors
        .iter()
        .map(|t| {
            let src = if t.trainable { params } else { state };
            (t.clone(), src[t.offset as usize..t.offset as usize + t.len].to_vec())
        })
        .collect()
}

/// The seed of a model's dropout masks, from its initialisation seed (both engines).
pub fn dropout_seed(seed: u64) -> u32 {
    (seed as u32) ^ 0x5eed
}

/// Where each tensor lives in the flat parameter and state buffers: (tensors, parameter
/// words, state words). Each trainable tensor is bound on its own, so it starts at a
/// multiple of `align` words; a layer's state (running mean, then variance) is bound as
/// one range, packed.
pub fn layout(layers: &[Planned], align: u64) -> (Vec<Tensor>, usize, usize) {
    let (mut tensors, mut next) = (Vec::new(), [0u64, 0u64]);
    for l in layers {
        let mut first_state = true;
        for (name, shape, trainable) in l.tensors() {
            let len: usize = shape.iter().product();
            let slot = &mut next[!trainable as usize];
            let offset = if trainable || first_state { slot.div_ceil(align) * align } else { *slot };
            first_state &= trainable;
            *slot = offset + len as u64;
            tensors.push(Tensor { name, shape, trainable, offset, len });
        }
    }
    (tensors, next[0] as usize, next[1] as usize)
}

/// Every parameter's starting value (the spec's framework default, seeded) and the
/// running statistics' (mean 0, variance 1), laid out as `tensors` says.
pub fn initial_values(
    spec: &Spec,
    layers: &[Planned],
    tensors: &[Tensor],
    param_words: usize,
    state_words: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let (mut params, mut state) = (vec![0f32; param_words], vec![0f32; state_words]);
    for l in layers {
        let names: Vec<String> = l.tensors().into_iter().map(|t| t.0).collect();
        let find = |n: &str| tensors.iter().find(|t| t.name == n).unwrap();
        let range = |t: &Tensor| t.offset as usize..t.offset as usize + t.len;
        match l {
            Planned::Conv { .. } | Planned::Dense { .. } => {
                let (w, b) = (range(find(&names[0])), range(find(&names[1])));
                let (fan_in, fan_out) = fans(l);
                let (mut wv, mut bv) = (params[w.clone()].to_vec(), params[b.clone()].to_vec());
                init::init_layer(spec.init, &mut rng, &mut wv, &mut bv, fan_in, fan_out, matches!(l, Planned::Dense { .. }));
                params[w].copy_from_slice(&wv);
                params[b].copy_from_slice(&bv);
            }
            Planned::BatchNorm { .. } => {
                params[range(find(&names[0]))].fill(1.0);
                state[range(find(&names[3]))].fill(1.0);
            }
            _ => {}
        }
    }
    (params, state)
}

/// (fan_in, fan_out) of a conv or dense layer, counting the receptive field as Keras does.
fn fans(l: &Planned) -> (usize, usize) {
    match l {
        Planned::Conv { input, out_c, kernel, .. } => (input.0 * kernel * kernel, out_c * kernel * kernel),
        Planned::Dense { in_f, out_f, .. } => (*in_f, *out_f),
        _ => (1, 1),
    }
}
