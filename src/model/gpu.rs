//! A network on the GPU: its parameters in one flat buffer (so one optimizer dispatch
//! updates them all); `graph` records its forward and backward passes.

use super::plan::input_gradient_needed;
use super::{dropout_seed, initial_values, layout, named_values, plan, Graph, Planned, Spec, Tensor};
use crate::desc::dense::DenseShape;
use crate::error::Error;
use crate::gpu::Gpu;
use crate::ops::choice::{Choices, Pass};
use crate::ops::kernel_cache::KernelCache;
use crate::ops::tune::{Job, Tuned};
use crate::ops::View;

/// A GPU model's parameter and state buffers and its tensor list: `GpuModel::read_tensors`
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

/// A network's spec, layers and parameters, resident on the GPU.
pub struct GpuModel {
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

impl GpuModel {
    /// A freshly initialized network (framework-default init, seeded).
    pub fn new(gpu: &Gpu, spec: &Spec, seed: u64) -> Result<GpuModel, Error> {
        let layers = plan::plan(spec)?;
        let align = (gpu.limits.min_storage_buffer_offset_alignment as u64 / 4).max(1);
        let (tensors, param_words, state_words) = layout(&layers, align);
        let model = GpuModel {
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

    /// Chooses the kernel of every convolution and dense pass of this model's training
    /// graph at `batch` (the forward passes serve its evaluation graphs at that batch too),
    /// timing what `cache` does not know (`ops::tune`). Convolutions forced to one kernel
    /// (`Choices::forced_conv`) are left alone.
    pub async fn autotune(&mut self, batch: usize, cache: &mut KernelCache) -> Result<Vec<Tuned>, Error> {
        let jobs = self.tune_jobs(batch);
        crate::ops::tune::autotune(&self.gpu, &mut self.kernels, jobs, cache).await
    }

    /// Every pass the training graph runs with a choice of kernel, by layer name.
    fn tune_jobs(&self, batch: usize) -> Vec<(String, Job)> {
        let mut jobs = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let dx = input_gradient_needed(&self.layers, i);
            match layer {
                Planned::Conv { name, .. } if self.kernels.forced_conv.is_none() => {
                    let s = layer.conv_shape(batch);
                    let passes = [Pass::ConvForward, Pass::ConvBackwardWeights, Pass::ConvBackwardInput];
                    jobs.extend(passes.into_iter().take(2 + dx as usize).map(|p| (name.clone(), Job::Conv(p, s))));
                }
                Planned::Dense { name, in_f, out_f, .. } => {
                    let s = DenseShape { batch, in_f: *in_f, out_f: *out_f };
                    let passes = [Pass::DenseForward, Pass::DenseBackwardWeights, Pass::DenseBackwardInput];
                    jobs.extend(passes.into_iter().take(2 + dx as usize).map(|p| (name.clone(), Job::Dense(p, s))));
                }
                _ => {}
            }
        }
        jobs
    }

    /// A training graph by the spec's optimizer, for timing each kernel of a step.
    pub fn profile_graph(&self, batch: usize) -> Result<Graph, Error> {
        let opt = &self.spec.optimizer;
        Graph::new(self, batch, Some((opt, &[opt.lr()])))
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.tensors.iter().filter(|t| t.trainable).map(|t| t.len).sum()
    }
}
