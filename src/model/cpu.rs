//! A network on the CPU engine: the same plan, tensor names, initialisation, dropout
//! masks and optimizer formulas as the GPU `Model` and `Graph`, with its parameters in
//! flat host vectors and each layer run by `crate::cpu`.

use super::plan::{input_gradient_needed, Backward};
use super::{dropout_seed, initial_values, layout, named_values, plan, Planned, Spec, Tensor, CLASSES, INPUT};
use crate::clock::{median, now_ms};
use crate::cpu;
use crate::data::{pixel_to_input, Mnist};
use crate::desc::dense::DenseShape;
use crate::desc::maxpool::PoolShape;
use crate::desc::optim::{rate_at, Optimizer};
use crate::error::Error;

/// A network's parameters, gradients, optimizer state and running statistics in memory.
pub struct CpuModel {
    pub spec: Spec,
    pub layers: Vec<Planned>,
    pub tensors: Vec<Tensor>,
    pub params: Vec<f32>,
    pub grads: Vec<f32>,
    pub opt_state: [Vec<f32>; 2],
    pub state: Vec<f32>,
    /// Training steps taken (Adam's bias correction, dropout masks).
    pub step: u32,
    pub seed: u32,
}

impl CpuModel {
    /// A freshly initialized network: the same values `Model::new` gives for this seed.
    pub fn new(spec: &Spec, seed: u64) -> Result<CpuModel, Error> {
        let layers = plan(spec)?;
        let (tensors, param_words, state_words) = layout(&layers, 1);
        let (params, state) = initial_values(spec, &layers, &tensors, param_words, state_words, seed);
        Ok(CpuModel {
            spec: spec.clone(),
            layers,
            tensors,
            grads: vec![0.0; param_words],
            opt_state: [vec![0.0; param_words], vec![0.0; param_words]],
            params,
            state,
            step: 0,
            seed: dropout_seed(seed),
        })
    }

    /// Zeroes the optimizer state, gradients and step counter (a new optimizer run).
    pub fn clear_optimizer(&mut self) {
        let [s1, s2] = &mut self.opt_state;
        for v in [&mut self.grads, s1, s2] {
            v.fill(0.0);
        }
        self.step = 0;
    }

    /// The optimizer's step counter and state (flat, in this model's layout).
    pub fn read_optimizer(&self) -> (u32, [Vec<f32>; 2]) {
        (self.step, self.opt_state.clone())
    }

    /// Restores what `read_optimizer` gave (in this model's layout).
    pub fn write_optimizer(&mut self, step: u32, state: &[Vec<f32>; 2]) {
        for (dst, src) in self.opt_state.iter_mut().zip(state) {
            dst.copy_from_slice(src);
        }
        self.step = step;
    }

    /// Every tensor's values (for saving).
    pub fn read_tensors(&self) -> Vec<(Tensor, Vec<f32>)> {
        named_values(&self.tensors, &self.params, &self.state)
    }

    /// Overwrites every tensor (for loading); the values must match `tensors` in order.
    pub fn write_tensors(&mut self, values: &[Vec<f32>]) {
        for (t, v) in self.tensors.iter().zip(values) {
            let dst = if t.trainable { &mut self.params } else { &mut self.state };
            dst[t.offset as usize..][..t.len].copy_from_slice(&v[..t.len]);
        }
    }

    fn range(&self, name: &str) -> std::ops::Range<usize> {
        let t = self.tensors.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no tensor {name}"));
        t.offset as usize..t.offset as usize + t.len
    }
}

/// Every layer's shapes were checked by `plan` and the buffers sized from them.
const PLANNED: &str = "layer shapes are checked when the network is planned";

/// What a layer keeps of its forward pass for the backward pass.
enum Saved {
    None,
    Argmax(Vec<u32>),
    Stats(Vec<f32>),
}

/// The buffers of one network at one batch size, allocated once: activations (layer i
/// reads `acts[i]` and writes `acts[i + 1]`), their gradients, and what layers keep.
pub struct CpuGraph {
    pub batch: usize,
    pub training: bool,
    acts: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
    masked: Vec<f32>,
    saved: Vec<Saved>,
    pub labels: Vec<u32>,
    dlogits: Vec<f32>,
    row_loss: Vec<f32>,
    row_correct: Vec<f32>,
    pub probs: Vec<f32>,
    /// When set, each layer's forward and backward time and the update's are appended
    /// (label, ms): the benchmark's per-op breakdown.
    pub timings: Option<Vec<(String, f64)>>,
}

fn len(d: (usize, usize, usize)) -> usize {
    d.0 * d.1 * d.2
}

impl CpuGraph {
    /// Buffers for `model`'s layers at `batch` images a step.
    pub fn new(model: &CpuModel, batch: usize, training: bool) -> Result<CpuGraph, Error> {
        if batch == 0 {
            return Err(Error::Shape("the batch size must be at least 1".into()));
        }
        let mut acts = vec![vec![0f32; batch * len(INPUT)]];
        let mut saved = Vec::new();
        let mut widest = 0;
        for (i, l) in model.layers.iter().enumerate() {
            let out = batch * len(l.output());
            widest = widest.max(out);
            // A training step never reads such a convolution's output (its weight gradient
            // reads the pool's gradient), so the fused forward does not write it.
            let kept = !(training && weights_from_pool(&model.layers, i, Backward::Train));
            acts.push(vec![0f32; if kept { out } else { 0 }]);
            saved.push(match l {
                Planned::MaxPool { .. } => Saved::Argmax(vec![0; out]),
                Planned::BatchNorm { .. } => Saved::Stats(vec![0.0; 2 * l.batchnorm_shape(batch).channels]),
                _ => Saved::None,
            });
        }
        let grads = if training { acts.iter().map(|a| vec![0f32; a.len()]).collect() } else { Vec::new() };
        Ok(CpuGraph {
            batch,
            training,
            masked: vec![0f32; if training { widest } else { 0 }],
            acts,
            grads,
            saved,
            labels: vec![0; batch],
            dlogits: vec![0f32; batch * CLASSES],
            row_loss: vec![0f32; batch],
            row_correct: vec![0f32; batch],
            probs: vec![0f32; batch * CLASSES],
            timings: None,
        })
    }

    /// The input images [batch, 1, 28, 28] (normalized) and labels, to fill before a step.
    pub fn input_mut(&mut self) -> (&mut [f32], &mut [u32]) {
        (&mut self.acts[0], &mut self.labels)
    }

    /// Every layer's output of the last forward pass, in the plan's order (in a training
    /// graph, empty for a convolution whose weight gradient reads the max-pool's after it).
    pub fn activations(&self) -> &[Vec<f32>] {
        &self.acts[1..]
    }

    /// Fills every layer's output and gradient with NaN (the suite: any element a pass fails to write shows).
    pub fn poison(&mut self) {
        self.acts[1..].iter_mut().for_each(|a| a.fill(f32::NAN));
        self.grads.iter_mut().for_each(|g| g.fill(f32::NAN));
    }

    /// The logits of the last forward pass.
    pub fn logits(&self) -> &[f32] {
        self.acts.last().expect("a network has layers")
    }

    /// The forward pass of every layer (dropout only in training graphs; batch norm on
    /// batch statistics in training graphs, running statistics otherwise).
    pub fn forward(&mut self, model: &mut CpuModel) {
        let b = self.batch;
        for (i, layer) in model.layers.iter().enumerate() {
            let started = self.timings.is_some().then(now_ms);
            let (before, after) = self.acts.split_at_mut(i + 1);
            let (x, y) = (&before[i], &mut after[0]);
            match layer {
                // Pooled with the convolution (`cpu::conv2d::conv2d_pool_forward`).
                Planned::MaxPool { .. } if i > 0 && conv_then_pool(&model.layers, i - 1) => {}
                Planned::Conv { name, relu, .. } if conv_then_pool(&model.layers, i) => {
                    let (w, bias) =
                        (&model.params[model.range(&format!("{name}.weight"))], &model.params[model.range(&format!("{name}.bias"))]);
                    let Saved::Argmax(arg) = &mut self.saved[i + 1] else { unreachable!() };
                    let (y, pooled) = after.split_at_mut(1);
                    cpu::conv2d::conv2d_pool_forward(&layer.conv_shape(b), x, w, bias, &mut y[0], *relu, &mut pooled[0], arg)
                        .expect(PLANNED);
                }
                Planned::Conv { name, relu, .. } => {
                    let (w, bias) =
                        (&model.params[model.range(&format!("{name}.weight"))], &model.params[model.range(&format!("{name}.bias"))]);
                    cpu::conv2d::conv2d_forward(&layer.conv_shape(b), x, w, bias, y, *relu).expect(PLANNED);
                }
                Planned::Normalize { mean, std, .. } => cpu::normalize::normalize_forward(*mean, *std, x, y),
                Planned::Relu { .. } => cpu::relu::relu_forward(x, y),
                Planned::MaxPool { input: (c, h, w) } => {
                    let Saved::Argmax(arg) = &mut self.saved[i] else { unreachable!() };
                    cpu::maxpool::maxpool_forward(&PoolShape { planes: b * c, in_h: *h, in_w: *w }, x, y, arg).expect(PLANNED);
                }
                Planned::Dropout { .. } if self.training => {
                    cpu::dropout::dropout_forward(&layer.dropout_config(model.seed, i), model.step, x, y)
                }
                Planned::Dropout { .. } => y.copy_from_slice(x),
                Planned::BatchNorm { name, .. } => {
                    let Saved::Stats(stats) = &mut self.saved[i] else { unreachable!() };
                    let (g, be) = (model.range(&format!("{name}.weight")), model.range(&format!("{name}.bias")));
                    let mean = model.range(&format!("{name}.running_mean"));
                    let running = &mut model.state[mean.start..mean.start + 2 * mean.len()];
                    let s = layer.batchnorm_shape(b);
                    cpu::batchnorm::batchnorm_forward(&s, self.training, x, &model.params[g], &model.params[be], stats, running, y);
                }
                Planned::Dense { name, in_f, out_f, relu } => {
                    let (w, bias) =
                        (&model.params[model.range(&format!("{name}.weight"))], &model.params[model.range(&format!("{name}.bias"))]);
                    cpu::dense::dense_forward(&DenseShape { batch: b, in_f: *in_f, out_f: *out_f }, x, w, bias, y, *relu);
                }
            }
            let fused = i > 0 && conv_then_pool(&model.layers, i - 1);
            record(&mut self.timings, started, || {
                format!("{} forward{}", layer.describe(), if fused { " (in the row above)" } else { "" })
            });
        }
    }

    /// Loss sum and correct count of the last forward pass against `labels`; leaves the
    /// logit gradient for the backward pass.
    pub fn loss(&mut self) -> (f64, f64) {
        let logits = self.acts.last().expect("a network has layers");
        cpu::softmax_xent::softmax_xent(
            self.batch,
            CLASSES,
            logits,
            &self.labels,
            &mut self.dlogits,
            &mut self.row_loss,
            &mut self.row_correct,
        );
        (self.row_loss.iter().map(|&v| v as f64).sum(), self.row_correct.iter().map(|&v| v as f64).sum())
    }

    /// Class probabilities of `images` (normalized, [n, 784]) for any n, run through this
    /// eval graph `batch` images at a time: a small batch keeps each layer's working set
    /// in cache (pytorch-cnn, 1000 test images in Chromium: 830 ms in one batch, 513 ms 64 at a time).
    pub fn predict_all(&mut self, model: &mut CpuModel, images: &[f32]) -> Result<Vec<f32>, Error> {
        if !images.len().is_multiple_of(784) {
            return Err(Error::Shape(format!("images: {} values is not a whole number of 28x28 images", images.len())));
        }
        let mut probs = Vec::with_capacity(images.len() / 784 * CLASSES);
        for chunk in images.chunks(self.batch * 784) {
            if chunk.len() == self.batch * 784 {
                self.acts[0].copy_from_slice(chunk);
                probs.extend_from_slice(self.predict(model));
            } else {
                let mut tail = CpuGraph::new(model, chunk.len() / 784, false)?;
                tail.acts[0].copy_from_slice(chunk);
                probs.extend_from_slice(tail.predict(model));
            }
        }
        Ok(probs)
    }

    /// Class probabilities of the input set with `input_mut`.
    pub fn predict(&mut self, model: &mut CpuModel) -> &[f32] {
        self.forward(model);
        let logits = self.acts.last().expect("a network has layers");
        cpu::softmax_xent::softmax(self.batch, CLASSES, logits, &mut self.probs);
        &self.probs
    }

    /// One training step on the input and labels: forward, loss, backward, update at the
    /// step's rate from `rates` (`Schedule::rates`). Returns the batch's loss sum and
    /// correct count.
    pub fn train_step(&mut self, model: &mut CpuModel, optimizer: &Optimizer, rates: &[f32]) -> (f64, f64) {
        let metrics = self.gradients(model);
        update(model, optimizer, rates, &mut self.timings);
        metrics
    }

    /// Forward, loss and backward on the input and labels: the mean gradient over the
    /// batch is left in `model.grads`. Returns the batch's loss sum and correct count.
    pub fn gradients(&mut self, model: &mut CpuModel) -> (f64, f64) {
        assert!(self.training, "gradients need a training graph");
        self.forward(model);
        let metrics = self.loss();
        self.backward(model);
        metrics
    }

    /// Gradients of every parameter, last layer first; input gradients below the first
    /// layer with parameters are never needed, so not computed.
    fn backward(&mut self, model: &mut CpuModel) {
        let last = model.layers.len();
        self.grads[last].copy_from_slice(&self.dlogits);
        self.backward_from_logits(model, Backward::Train);
    }

    /// Saliency: the gradient of logit `classes[r]` of each image r with respect to its
    /// input [batch, 784], in eval mode (dropout off, batch norm on running statistics),
    /// and the logits. No parameter gradient is touched.
    pub fn input_gradients(&mut self, model: &mut CpuModel, classes: &[u32]) -> Result<(&[f32], &[f32]), Error> {
        if self.training || classes.len() != self.batch || classes.iter().any(|&c| c as usize >= CLASSES) {
            return Err(Error::Shape(format!("input gradients take an eval graph and one class (0..9) per image, {} of them", self.batch)));
        }
        if self.grads.is_empty() {
            self.grads = self.acts.iter().map(|a| vec![0f32; a.len()]).collect();
            self.masked = vec![0f32; self.acts[1..].iter().map(Vec::len).max().unwrap_or(0)];
        }
        self.forward(model);
        let seed = &mut self.grads[model.layers.len()];
        seed.fill(0.0);
        classes.iter().enumerate().for_each(|(r, &c)| seed[r * CLASSES + c as usize] = 1.0);
        self.backward_from_logits(model, Backward::InputOnly);
        Ok((&self.grads[0], self.logits()))
    }

    /// The backward pass from the logit gradient in `grads[last]`, last layer first.
    fn backward_from_logits(&mut self, model: &mut CpuModel, mode: Backward) {
        let b = self.batch;
        let input_only = mode == Backward::InputOnly;
        for (i, layer) in model.layers.iter().enumerate().rev() {
            let started = self.timings.is_some().then(now_ms);
            let need_dx = input_only || input_gradient_needed(&model.layers, i);
            let (before, after) = self.grads.split_at_mut(i + 1);
            let (dx, dy) = (&mut before[i], &after[0][..]);
            let (x, y) = (&self.acts[i], &self.acts[i + 1]);
            // A fused ReLU is undone first: the layer's own gradient is dy masked by y > 0
            // (already, where a max-pool follows: its backward applies the mask).
            let masked = &mut self.masked[..dy.len()];
            let g: &[f32] = match layer {
                _ if relu_then_pool(&model.layers, i) => dy,
                Planned::Conv { relu: true, .. } | Planned::Dense { relu: true, .. } => {
                    cpu::relu::relu_backward(y, dy, masked);
                    masked
                }
                _ => dy,
            };
            let grad_range = |name: &str, what: &str| model.range(&format!("{name}.{what}"));
            match layer {
                Planned::Conv { name, .. } if weights_from_pool(&model.layers, i, mode) => {
                    let Saved::Argmax(argmax) = &self.saved[i + 1] else { unreachable!() };
                    // The pool's gradient: its own, or the ReLU's after it (which it masks).
                    let then_relu = pool_then_relu(&model.layers, i + 1);
                    let dy = &after[if then_relu { 2 } else { 1 }];
                    let relu_of = (then_relu || relu_then_pool(&model.layers, i)).then_some(&self.acts[i + 2][..]);
                    let (wr, br) = (grad_range(name, "weight"), grad_range(name, "bias"));
                    let (dw, db) = split_two(&mut model.grads, wr, br);
                    let g = cpu::maxpool::PoolGrad { dy, argmax, relu_of };
                    cpu::conv2d::conv2d_backward_weights_pooled(&layer.conv_shape(b), x, g, dw, db).expect("the plan's shapes");
                }
                Planned::Conv { name, .. } => {
                    let s = layer.conv_shape(b);
                    let (wr, br) = (grad_range(name, "weight"), grad_range(name, "bias"));
                    if !input_only {
                        cpu::conv2d::conv2d_backward_weights(&s, x, g, &mut model.grads[wr.clone()]);
                        cpu::conv2d::conv2d_backward_bias(&s, g, &mut model.grads[br]);
                    }
                    if need_dx {
                        cpu::conv2d::conv2d_backward_input(&s, g, &model.params[wr], dx);
                    }
                }
                Planned::Dense { name, in_f, out_f, .. } => {
                    let s = DenseShape { batch: b, in_f: *in_f, out_f: *out_f };
                    let (wr, br) = (grad_range(name, "weight"), grad_range(name, "bias"));
                    if !input_only {
                        cpu::dense::dense_backward_weights(&s, x, g, &mut model.grads[wr.clone()]);
                        cpu::dense::dense_backward_bias(&s, g, &mut model.grads[br]);
                    }
                    if need_dx {
                        cpu::dense::dense_backward_input(&s, g, &model.params[wr], dx);
                    }
                }
                Planned::Normalize { std, .. } if need_dx => cpu::normalize::normalize_backward(*std, dy, dx),
                // Done by the max-pool before it, which reads this layer's dy.
                Planned::Relu { .. } if i > 0 && pool_then_relu(&model.layers, i - 1) => {}
                Planned::Relu { .. } if need_dx => cpu::relu::relu_backward(y, dy, dx),
                // Done by the convolution before it, which reads this layer's dy.
                Planned::MaxPool { .. } if i > 0 && weights_from_pool(&model.layers, i - 1, mode) => {}
                Planned::MaxPool { input: (c, h, w) } if need_dx => {
                    let Saved::Argmax(arg) = &self.saved[i] else { unreachable!() };
                    let s = PoolShape { planes: b * c, in_h: *h, in_w: *w };
                    if pool_then_relu(&model.layers, i) {
                        cpu::maxpool::maxpool_relu_backward(&s, &after[1], arg, y, dx);
                    } else if i > 0 && relu_then_pool(&model.layers, i - 1) {
                        cpu::maxpool::maxpool_relu_backward(&s, dy, arg, y, dx);
                    } else {
                        cpu::maxpool::maxpool_backward(&s, dy, arg, dx);
                    }
                }
                Planned::Dropout { .. } if input_only => dx.copy_from_slice(dy),
                Planned::Dropout { .. } if need_dx => {
                    cpu::dropout::dropout_backward(&layer.dropout_config(model.seed, i), model.step, dy, dx)
                }
                Planned::BatchNorm { name, .. } if input_only => {
                    let (gr, mean) = (grad_range(name, "weight"), model.range(&format!("{name}.running_mean")));
                    let running = &model.state[mean.start..mean.start + 2 * mean.len()];
                    cpu::batchnorm::batchnorm_backward_eval(&layer.batchnorm_shape(b), dy, &model.params[gr], running, dx);
                }
                Planned::BatchNorm { name, .. } => {
                    let Saved::Stats(stats) = &self.saved[i] else { unreachable!() };
                    let (gr, br) = (grad_range(name, "weight"), grad_range(name, "bias"));
                    let gamma = model.params[gr.clone()].to_vec();
                    let (dgamma, dbeta) = split_two(&mut model.grads, gr, br);
                    cpu::batchnorm::batchnorm_backward(&layer.batchnorm_shape(b), x, dy, &gamma, stats, dgamma, dbeta, dx);
                }
                _ => {}
            }
            let fused = (matches!(layer, Planned::Relu { .. }) && i > 0 && pool_then_relu(&model.layers, i - 1))
                || (i > 0 && matches!(layer, Planned::MaxPool { .. }) && weights_from_pool(&model.layers, i - 1, mode));
            record(&mut self.timings, started, || {
                format!("{} backward{}", layer.describe(), if fused { " (in the row below)" } else { "" })
            });
        }
    }
}

/// The optimizer step on `model.grads` at the step's rate from `rates` (`Schedule::rates`).
pub fn update(model: &mut CpuModel, optimizer: &Optimizer, rates: &[f32], timings: &mut Option<Vec<(String, f64)>>) {
    let optimizer = optimizer.with_lr(rate_at(rates, model.step));
    model.step += 1;
    let started = timings.is_some().then(now_ms);
    let [s1, s2] = &mut model.opt_state;
    cpu::optim::optimizer_step(&optimizer, model.step, &mut model.params, &model.grads, s1, s2);
    record(timings, started, || format!("{} update", optimizer.update_rule()));
}

/// Whether layer `i` is a convolution and a max-pool follows it: the two run as one
/// forward pass.
fn conv_then_pool(layers: &[Planned], i: usize) -> bool {
    matches!(layers.get(i), Some(Planned::Conv { .. })) && matches!(layers.get(i + 1), Some(Planned::MaxPool { .. }))
}

/// Whether layer `i` is a convolution whose weight gradient is computed straight from the
/// gradient of the max-pool after it (`cpu::conv2d::conv2d_backward_weights_pooled`): in
/// training, where no layer before it needs its input gradient.
fn weights_from_pool(layers: &[Planned], i: usize, mode: Backward) -> bool {
    mode == Backward::Train && conv_then_pool(layers, i) && !input_gradient_needed(layers, i)
}

/// Whether layer `i` ends in a fused ReLU and a max-pool follows it: the pool's backward
/// then applies the ReLU's mask too (`cpu::maxpool::maxpool_relu_backward`).
fn relu_then_pool(layers: &[Planned], i: usize) -> bool {
    matches!(layers.get(i), Some(Planned::Conv { relu: true, .. } | Planned::Dense { relu: true, .. }))
        && matches!(layers.get(i + 1), Some(Planned::MaxPool { .. }))
}

/// Whether layer `i` is a max-pool and a ReLU follows it: the pool's backward then does
/// the ReLU's too (its mask, the pool's output > 0, is the ReLU's), from the ReLU's dy.
fn pool_then_relu(layers: &[Planned], i: usize) -> bool {
    matches!(layers.get(i), Some(Planned::MaxPool { .. })) && matches!(layers.get(i + 1), Some(Planned::Relu { .. }))
}

/// Appends the time since `started` to `timings`, when timing.
fn record(timings: &mut Option<Vec<(String, f64)>>, started: Option<f64>, label: impl FnOnce() -> String) {
    if let (Some(t), Some(start)) = (timings, started) {
        t.push((label(), now_ms() - start));
    }
}

/// Two disjoint ranges of one vector, both mutable.
fn split_two(v: &mut [f32], a: std::ops::Range<usize>, b: std::ops::Range<usize>) -> (&mut [f32], &mut [f32]) {
    assert!(a.end <= b.start, "ranges in state-dict order");
    let (head, tail) = v.split_at_mut(b.start);
    (&mut head[a], &mut tail[..b.len()])
}

/// The CPU engine's time per layer and pass of one training step at `batch`: median of
/// `steps` steps after a warm-up step, in ms.
pub fn step_profile(model: &mut CpuModel, data: &Mnist, batch: usize, steps: usize) -> Result<Vec<(String, f64)>, Error> {
    let spec = model.spec.clone();
    let mut graph = CpuGraph::new(model, batch, true)?;
    let (x, labels) = graph.input_mut();
    for (i, (x, l)) in x.chunks_mut(784).zip(labels.iter_mut()).enumerate() {
        x.iter_mut().zip(data.train.image(i)).for_each(|(x, &p)| *x = pixel_to_input(p));
        *l = data.train.labels[i] as u32;
    }
    let mut runs: Vec<Vec<(String, f64)>> = Vec::new();
    for s in 0..=steps {
        graph.timings = Some(Vec::new());
        graph.train_step(model, &spec.optimizer, &[spec.optimizer.lr()]);
        let t = graph.timings.take().unwrap_or_default();
        if s > 0 {
            runs.push(t);
        }
    }
    Ok((0..runs[0].len()).map(|i| (runs[0][i].0.clone(), median(runs.iter().map(|r| r[i].1).collect()))).collect())
}
