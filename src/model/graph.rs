//! The dispatches of one network at one batch size, prepared once: forward, loss,
//! backward and update, recorded into a compute pass every step with nothing created.

use super::plan::{input_gradient_needed, Backward};
use super::{GpuModel, Planned, CLASSES, INPUT};
use crate::desc::dense::DenseShape;
use crate::desc::maxpool::PoolShape;
use crate::desc::optim::Optimizer;
use crate::error::Error;
use crate::gpu::Gpu;
use crate::ops::batchnorm::{batchnorm_backward, batchnorm_backward_eval, batchnorm_forward};
use crate::ops::choice::Pass;
use crate::ops::conv2d::{conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weights, conv2d_forward};
use crate::ops::dense::{dense_backward_bias, dense_backward_input, dense_backward_weights, dense_forward};
use crate::ops::dropout::{dropout_backward, dropout_forward};
use crate::ops::maxpool::{maxpool_backward, maxpool_forward};
use crate::ops::normalize::{normalize_backward, normalize_forward};
use crate::ops::optim::optimizer_step;
use crate::ops::relu::{relu_backward, relu_forward};
use crate::ops::softmax_xent::{accumulate_metrics, softmax, softmax_xent};
use crate::ops::{Dispatch, View};

/// A network's passes at one batch size. Training graphs also hold the backward pass
/// and the optimizer update; evaluation graphs run dropout as identity and batch norm on
/// its running statistics.
pub struct Graph {
    pub batch: usize,
    pub training: bool,
    /// Input images [batch, 1, 28, 28], normalized.
    pub input: View,
    /// Labels [batch] (u32).
    pub labels: View,
    pub logits: View,
    pub probs: View,
    /// Running sums [loss, correct, examples] since the last reset.
    pub metrics: View,
    /// Every layer's output, in the plan's order (a dropout's in eval graphs is its input).
    pub activations: Vec<View>,
    forward: Vec<Dispatch>,
    loss: Vec<Dispatch>,
    backward: Vec<Dispatch>,
    update: Vec<Dispatch>,
    predict: Vec<Dispatch>,
    /// Saliency graphs (`Graph::explainer`): the logit gradient to seed (one-hot rows,
    /// written by the caller) and the input gradient the backward pass ends in.
    pub saliency: Option<(View, View)>,
}

/// What the backward pass needs of a layer's forward pass.
struct Saved {
    x: View,
    y: View,
    extra: Option<View>,
}

impl Graph {
    /// Prepares the graph; training graphs need the optimizer and its learning rate per
    /// step (`Schedule::rates`; one rate for a constant schedule). Each convolution and
    /// dense pass runs the kernel `model.kernels` chooses for its shape.
    pub fn new(model: &GpuModel, batch: usize, optimizer: Option<(&Optimizer, &[f32])>) -> Result<Graph, Error> {
        Graph::build(model, batch, optimizer, false)
    }

    /// An eval graph whose backward pass runs from a seeded logit gradient down to the
    /// input, touching no parameter gradient: saliency (`record_saliency`).
    pub fn explainer(model: &GpuModel, batch: usize) -> Result<Graph, Error> {
        Graph::build(model, batch, None, true)
    }

    fn build(model: &GpuModel, batch: usize, optimizer: Option<(&Optimizer, &[f32])>, explain: bool) -> Result<Graph, Error> {
        let gpu = &model.gpu;
        let training = optimizer.is_some();
        let b = batch;
        let per_item = |d: (usize, usize, usize)| d.0 * d.1 * d.2;
        let input = View::new(gpu, "input", b * per_item(INPUT))?;
        let labels = View::new(gpu, "labels", b)?;
        let (mut forward, mut saved) = (Vec::new(), Vec::new());
        let mut x = input.clone();
        for (i, layer) in model.layers.iter().enumerate() {
            let out = View::new(gpu, "activation", b * per_item(layer.output()))?;
            let mut extra = None;
            let y = match layer {
                Planned::Conv { name, relu, .. } => {
                    let s = layer.conv_shape(b);
                    let (w, bias) = (model.param(name, "weight"), model.param(name, "bias"));
                    forward.extend(conv2d_forward(gpu, &s, &x, &w, &bias, &out, *relu, model.kernels.conv(Pass::ConvForward, &s))?);
                    out
                }
                Planned::Normalize { mean, std, .. } => {
                    forward.push(normalize_forward(gpu, out.len, *mean, *std, &x, &out)?);
                    out
                }
                Planned::Relu { .. } => {
                    forward.push(relu_forward(gpu, out.len, &x, &out)?);
                    out
                }
                Planned::MaxPool { input: (c, h, w) } => {
                    let argmax = View::new(gpu, "argmax", out.len)?;
                    forward.push(maxpool_forward(gpu, &PoolShape { planes: b * c, in_h: *h, in_w: *w }, &x, &out, &argmax)?);
                    extra = Some(argmax);
                    out
                }
                Planned::Dropout { .. } if !training => x.clone(),
                Planned::Dropout { .. } => {
                    forward.push(dropout_forward(gpu, &layer.dropout_config(model.seed, i), out.len, &x, &model.step, &out)?);
                    out
                }
                Planned::BatchNorm { name, .. } => {
                    let s = layer.batchnorm_shape(b);
                    let stats = View::new(gpu, "batch stats", 2 * s.channels)?;
                    let running = View::range(&model.state, model.param(name, "running_mean").offset, 2 * s.channels);
                    let (gamma, beta) = (model.param(name, "weight"), model.param(name, "bias"));
                    forward.extend(batchnorm_forward(gpu, &s, training, &x, &gamma, &beta, &stats, &running, &out)?);
                    extra = Some(stats);
                    out
                }
                Planned::Dense { name, in_f, out_f, relu } => {
                    let s = DenseShape { batch: b, in_f: *in_f, out_f: *out_f };
                    let (w, bias, kernel) =
                        (model.param(name, "weight"), model.param(name, "bias"), model.kernels.dense(Pass::DenseForward, &s));
                    forward.push(dense_forward(gpu, &s, &x, &w, &bias, &out, *relu, kernel)?);
                    out
                }
            };
            saved.push(Saved { x: x.clone(), y: y.clone(), extra });
            x = y;
        }
        let activations: Vec<View> = saved.iter().map(|s| s.y.clone()).collect();
        let logits = x;
        let dlogits = View::new(gpu, "logit gradient", b * CLASSES)?;
        let (row_loss, row_correct, metrics) =
            (View::new(gpu, "row loss", b)?, View::new(gpu, "row correct", b)?, View::new(gpu, "metrics", 3)?);
        let probs = View::new(gpu, "probabilities", b * CLASSES)?;
        let loss = vec![
            softmax_xent(gpu, b, CLASSES, &logits, &labels, &dlogits, &row_loss, &row_correct)?,
            accumulate_metrics(gpu, b, &row_loss, &row_correct, &metrics)?,
        ];
        let predict = vec![softmax(gpu, b, CLASSES, &logits, &probs)?];
        let (mut backward, mut update, mut saliency) = (Vec::new(), Vec::new(), None);
        if explain {
            let seed = View::new(gpu, "logit gradient seed", b * CLASSES)?;
            let (dispatches, dinput) = backward_pass(model, b, &saved, seed.clone(), Backward::InputOnly)?;
            backward = dispatches;
            saliency = Some((seed, dinput));
        }
        if let Some((opt, rates)) = optimizer {
            backward = backward_pass(model, b, &saved, dlogits, Backward::Train)?.0;
            let all = |buf: &wgpu::Buffer| View::range(buf, 0, model.param_words);
            update = optimizer_step(
                gpu,
                opt,
                &all(&model.params),
                &all(&model.grads),
                &all(&model.opt_state[0]),
                &all(&model.opt_state[1]),
                &model.step,
                &View::from_slice(gpu, "learning rates", rates)?,
            )?;
        }
        Ok(Graph {
            batch,
            training,
            input,
            labels,
            logits,
            probs,
            metrics,
            activations,
            forward,
            loss,
            backward,
            update,
            predict,
            saliency,
        })
    }

    /// One training step: forward, loss (metrics accumulate), backward, update.
    pub fn record_train_step(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in self.forward.iter().chain(&self.loss).chain(&self.backward).chain(&self.update) {
            d.record(pass);
        }
    }

    /// Forward and loss only (metrics accumulate), then probabilities.
    pub fn record_eval(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in self.forward.iter().chain(&self.loss).chain(&self.predict) {
            d.record(pass);
        }
    }

    /// Queues a prediction of `images` (normalized, [batch, 784]); the future reads the
    /// probabilities back without borrowing the graph.
    pub fn predict(&self, gpu: &Gpu, images: &[f32]) -> impl std::future::Future<Output = Result<Vec<f32>, Error>> + 'static {
        let queued = self.input.expect("images", images.len()).map(|_| {
            self.input.write(gpu, images);
            gpu.run_pass(|pass| self.record_predict(pass));
            (gpu.clone(), self.probs.clone())
        });
        async move {
            let (gpu, probs) = queued?;
            probs.read(&gpu).await
        }
    }

    /// Forward and probabilities only (no labels needed).
    pub fn record_predict(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in self.forward.iter().chain(&self.predict) {
            d.record(pass);
        }
    }

    /// Forward, probabilities, and the input-gradient pass of an explainer graph.
    pub fn record_saliency(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in self.forward.iter().chain(&self.predict).chain(&self.backward) {
            d.record(pass);
        }
    }

    /// Every dispatch of a prediction, in order (for per-kernel timing).
    pub fn predict_dispatches(&self) -> Vec<&Dispatch> {
        self.forward.iter().chain(&self.predict).collect()
    }

    /// Every dispatch of a training step, in order (for per-kernel timing).
    pub fn train_step_dispatches(&self) -> Vec<&Dispatch> {
        self.forward.iter().chain(&self.loss).chain(&self.backward).chain(&self.update).collect()
    }
}

/// The backward dispatches, last layer first, and the input gradient they end in. `dy`
/// starts as the logit gradient; in training, input gradients below the first layer with
/// parameters are never needed, so not computed.
fn backward_pass(model: &GpuModel, b: usize, saved: &[Saved], mut dy: View, mode: Backward) -> Result<(Vec<Dispatch>, View), Error> {
    let gpu = &model.gpu;
    let input_only = mode == Backward::InputOnly;
    let mut out = Vec::new();
    for (i, (layer, s)) in model.layers.iter().zip(saved).enumerate().rev() {
        let need_dx = input_only || input_gradient_needed(&model.layers, i);
        let dx = View::new(gpu, "gradient", s.x.len)?;
        // A fused ReLU is undone first: the layer's own gradient is dy masked by y > 0.
        let masked = |relu: bool, out: &mut Vec<Dispatch>| -> Result<View, Error> {
            if !relu {
                return Ok(dy.clone());
            }
            let m = View::new(gpu, "relu gradient", dy.len)?;
            out.push(relu_backward(gpu, dy.len, &s.y, &dy, &m)?);
            Ok(m)
        };
        match layer {
            Planned::Conv { name, relu, .. } => {
                let shape = layer.conv_shape(b);
                let g = masked(*relu, &mut out)?;
                if !input_only {
                    let kernel = model.kernels.conv(Pass::ConvBackwardWeights, &shape);
                    out.extend(conv2d_backward_weights(gpu, &shape, &s.x, &g, &model.param_grad(name, "weight"), kernel)?);
                    out.push(conv2d_backward_bias(gpu, &shape, &g, &model.param_grad(name, "bias"))?);
                }
                if need_dx {
                    let kernel = model.kernels.conv(Pass::ConvBackwardInput, &shape);
                    out.extend(conv2d_backward_input(gpu, &shape, &g, &model.param(name, "weight"), &dx, kernel)?);
                }
            }
            Planned::Dense { name, in_f, out_f, relu } => {
                let shape = DenseShape { batch: b, in_f: *in_f, out_f: *out_f };
                let g = masked(*relu, &mut out)?;
                if !input_only {
                    let kernel = model.kernels.dense(Pass::DenseBackwardWeights, &shape);
                    out.push(dense_backward_weights(gpu, &shape, &s.x, &g, &model.param_grad(name, "weight"), kernel)?);
                    out.push(dense_backward_bias(gpu, &shape, &g, &model.param_grad(name, "bias"))?);
                }
                if need_dx {
                    let kernel = model.kernels.dense(Pass::DenseBackwardInput, &shape);
                    out.push(dense_backward_input(gpu, &shape, &g, &model.param(name, "weight"), &dx, kernel)?);
                }
            }
            Planned::Normalize { mean, std, .. } if need_dx => out.push(normalize_backward(gpu, dx.len, *mean, *std, &dy, &dx)?),
            Planned::Relu { .. } if need_dx => out.push(relu_backward(gpu, dx.len, &s.y, &dy, &dx)?),
            Planned::MaxPool { input: (c, h, w) } if need_dx => {
                let argmax = s.extra.as_ref().expect("maxpool keeps its argmax");
                out.push(maxpool_backward(gpu, &PoolShape { planes: b * c, in_h: *h, in_w: *w }, &dy, argmax, &dx)?);
            }
            // Eval-mode dropout is the identity: its gradient passes through unchanged.
            Planned::Dropout { .. } if input_only => continue,
            Planned::Dropout { .. } if need_dx => {
                out.push(dropout_backward(gpu, &layer.dropout_config(model.seed, i), dx.len, &dy, &model.step, &dx)?)
            }
            Planned::BatchNorm { name, .. } if input_only => {
                let s = layer.batchnorm_shape(b);
                let running = View::range(&model.state, model.param(name, "running_mean").offset, 2 * s.channels);
                out.push(batchnorm_backward_eval(gpu, &s, &dy, &model.param(name, "weight"), &running, &dx)?);
            }
            Planned::BatchNorm { name, .. } => {
                let stats = s.extra.as_ref().expect("batchnorm keeps its statistics");
                let (gamma, dgamma, dbeta) =
                    (model.param(name, "weight"), model.param_grad(name, "weight"), model.param_grad(name, "bias"));
                out.extend(batchnorm_backward(gpu, &layer.batchnorm_shape(b), &s.x, &dy, &gamma, stats, &dgamma, &dbeta, &dx)?);
            }
            _ => {}
        }
        dy = dx;
    }
    Ok((out, dy))
}
