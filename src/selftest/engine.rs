//! The engines under test, behind one trait, so each suite case is written once and run
//! on the GPU (natively and in the browser) and on the CPU engine. Every method takes
//! host inputs, runs the engine's op with its outputs first filled with NaN (any element
//! an op fails to write shows up), and returns the outputs. `variants` is how an engine
//! widens a table row: the GPU runs each row under every candidate kernel of its op (the
//! kernels `model::tune` chooses among) and every other row on a 2-D grid of workgroups
//! with a ragged last row; the CPU engine has one configuration.

use super::check::{poisoned, run_and_read, upload};
use crate::cpu;
use crate::gpu::Gpu;
use crate::model::{CpuGraph, CpuModel, Graph, Model, Spec};
use crate::ops::batchnorm::BatchNormShape;
use crate::ops::choice::{Choices, Kernel, Pass};
use crate::ops::conv2d::Conv2dShape;
use crate::ops::dense::{DenseShape, MatmulShape};
use crate::ops::dropout::DropoutConfig;
use crate::ops::gather::GatherShape;
use crate::ops::maxpool::PoolShape;
use crate::ops::optim::Optimizer;
use crate::ops::{self, run, View};

/// What a table row is widened over.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Widen {
    /// Grid shapes only.
    Grid,
    /// Grid shapes and every convolution kernel (`Kernel::CONV`).
    ConvKernels,
    /// Grid shapes and every dense kernel (`Kernel::DENSE`).
    DenseKernels,
    /// The adapter's binding alignment and the 256 bytes browsers use.
    Alignments,
}

/// Results of one batch-norm row: (eval y, train y, stats, running, dx, dgamma, dbeta).
pub type BatchNormOut = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

/// An engine as the suite sees it.
#[allow(async_fn_in_trait, clippy::too_many_arguments)]
pub trait OpEngine: Sized {
    /// "gpu" or "cpu", for messages.
    fn name(&self) -> &'static str;
    /// The configurations table row `row` runs under, each with a label ("" for none).
    fn variants(&self, widen: Widen, row: usize) -> Vec<(Self, String)>;
    /// (y, dx, dw, db) of a convolution with output gradient `dy`.
    async fn conv2d(&self, s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String>;
    /// (y, argmax, dx): the backward pass runs on the engine's own argmax.
    async fn maxpool(&self, s: &PoolShape, x: &[f32], dy: &[f32]) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>), String>;
    async fn matmul(&self, s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Result<Vec<f32>, String>;
    /// (y, dx, dw, db) of a dense layer with output gradient `dy`.
    async fn dense(&self, s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String>;
    /// (relu(x), the gradient through a forward output `y`).
    async fn relu(&self, x: &[f32], y: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String>;
    /// ((x - mean) / std, the gradient dy / std).
    async fn normalize(&self, mean: f32, std: f32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String>;
    /// (forward, backward) at training step `step`.
    async fn dropout(&self, c: &DropoutConfig, step: u32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String>;
    /// Eval forward on `running`, then a training forward (updating it) and backward.
    async fn batchnorm(
        &self,
        s: &BatchNormShape,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        running: &[f32],
        dy: &[f32],
    ) -> Result<BatchNormOut, String>;
    /// (logit gradient, metrics [loss sum, correct, rows] after accumulating twice, softmax).
    async fn softmax_xent(&self, n: usize, classes: usize, logits: &[f32], labels: &[u32]) -> Result<[Vec<f32>; 3], String>;
    /// The parameters after each of `grads.len()` steps from `params` and zero state, and
    /// the step counter at the end.
    /// The parameters after each step (one per gradient) at the rates of the table
    /// `rates` (`ops::optim::rate_at`), and the step counter.
    async fn optimizer_steps(
        &self,
        opt: &Optimizer,
        rates: &[f32],
        params: &[f32],
        grads: &[Vec<f32>],
    ) -> Result<(Vec<Vec<f32>>, u32), String>;
    /// (x, labels, cursor after the batch).
    async fn gather(
        &self,
        s: &GatherShape,
        images: &[u8],
        labels: &[u32],
        order: &[u32],
        cursor: u32,
    ) -> Result<(Vec<f32>, Vec<u32>, u32), String>;
    /// Eval-mode logits of a preset's network with the given tensor values; the label
    /// says how the engine laid the tensors out.
    async fn network_logits(&self, spec: &Spec, values: &[Vec<f32>], images: &[f32]) -> Result<(Vec<f32>, String), String>;
    /// Rejects the suite's impossible shapes; returns what it checked.
    fn bad_shapes_are_errors(&self) -> Result<Vec<String>, String>;
}

fn err(e: crate::Error) -> String {
    e.to_string()
}

fn nan(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

/// The GPU engine: a device and the kernel its convolution and dense passes run (None:
/// the adapter's untimed default, as a graph would choose; variants set each candidate).
#[derive(Clone)]
pub struct GpuEngine {
    pub gpu: Gpu,
    pub kernel: Option<Kernel>,
}

impl GpuEngine {
    /// The device with the kernels a graph would choose for it untimed.
    pub fn new(gpu: &Gpu) -> GpuEngine {
        GpuEngine { gpu: gpu.clone(), kernel: None }
    }

    fn conv_kernel(&self, pass: Pass, s: &Conv2dShape) -> Kernel {
        self.kernel.unwrap_or_else(|| Choices::for_adapter(&self.gpu.adapter_info).conv(pass, s))
    }

    fn dense_kernel(&self) -> Kernel {
        self.kernel.unwrap_or(Kernel::Tiled)
    }
}

impl OpEngine for GpuEngine {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn variants(&self, widen: Widen, row: usize) -> Vec<(GpuEngine, String)> {
        let mut g = self.clone();
        if row % 2 == 1 {
            g.gpu.max_workgroups_per_dim = 3;
        }
        match widen {
            Widen::Grid => vec![(g, String::new())],
            Widen::ConvKernels | Widen::DenseKernels => {
                let kernels = if widen == Widen::ConvKernels { Kernel::CONV } else { Kernel::DENSE };
                kernels.iter().map(|&k| (GpuEngine { kernel: Some(k), ..g.clone() }, k.name().to_string())).collect()
            }
            Widen::Alignments => {
                let mut browser_like = self.clone();
                let l = &mut browser_like.gpu.limits;
                l.min_storage_buffer_offset_alignment = l.min_storage_buffer_offset_alignment.max(256);
                [self.clone(), browser_like]
                    .into_iter()
                    .map(|g| {
                        let label = format!("{}-byte alignment", g.gpu.limits.min_storage_buffer_offset_alignment);
                        (g, label)
                    })
                    .collect()
            }
        }
    }

    async fn conv2d(&self, s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        let g = &self.gpu;
        let (xv, wv, bv, dyv) = (upload(g, x)?, upload(g, w)?, upload(g, b)?, upload(g, dy)?);
        let (y, dx, dw, db) =
            (poisoned(g, s.output_len())?, poisoned(g, s.input_len())?, poisoned(g, s.weight_len())?, poisoned(g, s.out_c)?);
        let mut ds = ops::conv2d::conv2d_forward(g, s, &xv, &wv, &bv, &y, relu, self.conv_kernel(Pass::ConvForward, s)).map_err(err)?;
        ds.extend(ops::conv2d::conv2d_backward_input(g, s, &dyv, &wv, &dx, self.conv_kernel(Pass::ConvBackwardInput, s)).map_err(err)?);
        ds.push(ops::conv2d::conv2d_backward_bias(g, s, &dyv, &db).map_err(err)?);
        let dw_kernel = self.conv_kernel(Pass::ConvBackwardWeights, s);
        let dw_passes = ops::conv2d::conv2d_backward_weights(g, s, &xv, &dyv, &dw, dw_kernel).map_err(err)?;
        let out = run_and_read(g, &ds.iter().chain(dw_passes.iter()).collect::<Vec<_>>(), &[&y, &dx, &dw, &db]).await?;
        Ok(out.try_into().expect("four outputs"))
    }

    async fn maxpool(&self, s: &PoolShape, x: &[f32], dy: &[f32]) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>), String> {
        let g = &self.gpu;
        let (xv, dyv) = (upload(g, x)?, upload(g, dy)?);
        let (y, arg, dx) = (poisoned(g, s.output_len())?, upload(g, &vec![u32::MAX; s.output_len()])?, poisoned(g, s.input_len())?);
        let fwd = ops::maxpool::maxpool_forward(g, s, &xv, &y, &arg).map_err(err)?;
        let bwd = ops::maxpool::maxpool_backward(g, s, &dyv, &arg, &dx).map_err(err)?;
        let mut out = run_and_read(g, &[&fwd, &bwd], &[&y, &dx]).await?;
        let arg: Vec<u32> = arg.read(g).await.map_err(err)?;
        let dx = out.pop().expect("dx");
        Ok((out.pop().expect("y"), arg, dx))
    }

    async fn matmul(&self, s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Result<Vec<f32>, String> {
        let g = &self.gpu;
        let (av, bv, c) = (upload(g, a)?, upload(g, b)?, poisoned(g, s.m * s.n)?);
        let biasv = bias.map(|b| upload(g, b)).transpose()?;
        let d = ops::dense::matmul(g, s, &av, &bv, biasv.as_ref(), relu, &c, self.dense_kernel()).map_err(err)?;
        Ok(run_and_read(g, &[&d], &[&c]).await?.remove(0))
    }

    async fn dense(&self, s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        let (g, k) = (&self.gpu, self.dense_kernel());
        let (xv, wv, bv, dyv) = (upload(g, x)?, upload(g, w)?, upload(g, b)?, upload(g, dy)?);
        let (y, dx, dw, db) =
            (poisoned(g, s.batch * s.out_f)?, poisoned(g, s.batch * s.in_f)?, poisoned(g, s.out_f * s.in_f)?, poisoned(g, s.out_f)?);
        let ds = [
            ops::dense::dense_forward(g, s, &xv, &wv, &bv, &y, relu, k).map_err(err)?,
            ops::dense::dense_backward_input(g, s, &dyv, &wv, &dx, k).map_err(err)?,
            ops::dense::dense_backward_weights(g, s, &xv, &dyv, &dw, k).map_err(err)?,
            ops::dense::dense_backward_bias(g, s, &dyv, &db).map_err(err)?,
        ];
        let out = run_and_read(g, &ds.iter().collect::<Vec<_>>(), &[&y, &dx, &dw, &db]).await?;
        Ok(out.try_into().expect("four outputs"))
    }

    async fn relu(&self, x: &[f32], y_in: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, yin, dyv, y, dx) = (upload(g, x)?, upload(g, y_in)?, upload(g, dy)?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [ops::relu::relu_forward(g, n, &xv, &y).map_err(err)?, ops::relu::relu_backward(g, n, &yin, &dyv, &dx).map_err(err)?];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }

    async fn normalize(&self, mean: f32, std: f32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, dyv, y, dx) = (upload(g, x)?, upload(g, dy)?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [
            ops::normalize::normalize_forward(g, n, mean, std, &xv, &y).map_err(err)?,
            ops::normalize::normalize_backward(g, n, mean, std, &dyv, &dx).map_err(err)?,
        ];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }

    async fn dropout(&self, c: &DropoutConfig, step: u32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, dyv, stepv, y, dx) = (upload(g, x)?, upload(g, dy)?, upload(g, &[step])?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [
            ops::dropout::dropout_forward(g, c, n, &xv, &stepv, &y).map_err(err)?,
            ops::dropout::dropout_backward(g, c, n, &dyv, &stepv, &dx).map_err(err)?,
        ];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }

    async fn batchnorm(
        &self,
        s: &BatchNormShape,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        running: &[f32],
        dy: &[f32],
    ) -> Result<BatchNormOut, String> {
        let (g, c) = (&self.gpu, s.channels);
        let (xv, gv, bv, dyv, runv) = (upload(g, x)?, upload(g, gamma)?, upload(g, beta)?, upload(g, dy)?, upload(g, running)?);
        let (y, stats, y_eval) = (poisoned(g, s.len())?, poisoned(g, 2 * c)?, poisoned(g, s.len())?);
        let (dx, dgamma, dbeta) = (poisoned(g, s.len())?, poisoned(g, c)?, poisoned(g, c)?);
        let mut ds = ops::batchnorm::batchnorm_forward(g, s, false, &xv, &gv, &bv, &stats, &runv, &y_eval).map_err(err)?;
        ds.extend(ops::batchnorm::batchnorm_forward(g, s, true, &xv, &gv, &bv, &stats, &runv, &y).map_err(err)?);
        ds.extend(ops::batchnorm::batchnorm_backward(g, s, &xv, &dyv, &gv, &stats, &dgamma, &dbeta, &dx).map_err(err)?);
        let mut o = run_and_read(g, &ds.iter().collect::<Vec<_>>(), &[&y_eval, &y, &stats, &runv, &dx, &dgamma, &dbeta]).await?.into_iter();
        let mut next = || o.next().expect("seven outputs");
        Ok((next(), next(), next(), next(), next(), next(), next()))
    }

    async fn softmax_xent(&self, n: usize, classes: usize, logits: &[f32], labels: &[u32]) -> Result<[Vec<f32>; 3], String> {
        let g = &self.gpu;
        let (lv, labv, metrics) = (upload(g, logits)?, upload(g, labels)?, upload(g, &[0f32; 3])?);
        let (grad, loss, correct, probs) = (poisoned(g, n * classes)?, poisoned(g, n)?, poisoned(g, n)?, poisoned(g, n * classes)?);
        let x = ops::softmax_xent::softmax_xent(g, n, classes, &lv, &labv, &grad, &loss, &correct).map_err(err)?;
        let acc = ops::softmax_xent::accumulate_metrics(g, n, &loss, &correct, &metrics).map_err(err)?;
        let sm = ops::softmax_xent::softmax(g, n, classes, &lv, &probs).map_err(err)?;
        Ok(run_and_read(g, &[&x, &acc, &acc, &sm], &[&grad, &metrics, &probs]).await?.try_into().expect("three outputs"))
    }

    async fn optimizer_steps(
        &self,
        opt: &Optimizer,
        rates: &[f32],
        params: &[f32],
        grads: &[Vec<f32>],
    ) -> Result<(Vec<Vec<f32>>, u32), String> {
        let (g, n) = (&self.gpu, params.len());
        let zeros = vec![0f32; n];
        let (pv, gv, s1v, s2v, stepv, ratesv) =
            (upload(g, params)?, upload(g, &zeros)?, upload(g, &zeros)?, upload(g, &zeros)?, upload(g, &[0u32])?, upload(g, rates)?);
        let ds = ops::optim::optimizer_step(g, opt, &pv, &gv, &s1v, &s2v, &stepv, &ratesv).map_err(err)?;
        let mut out = Vec::new();
        for grad in grads {
            gv.write(g, grad);
            run(g, &ds.iter().collect::<Vec<_>>());
            out.push(pv.read(g).await.map_err(err)?);
        }
        let steps: Vec<u32> = stepv.read(g).await.map_err(err)?;
        Ok((out, steps[0]))
    }

    async fn gather(
        &self,
        s: &GatherShape,
        images: &[u8],
        labels: &[u32],
        order: &[u32],
        cursor: u32,
    ) -> Result<(Vec<f32>, Vec<u32>, u32), String> {
        let g = &self.gpu;
        let (iv, lv, ov, cv) =
            (upload(g, &crate::reference::gather::pack_bytes(images))?, upload(g, labels)?, upload(g, order)?, upload(g, &[cursor])?);
        let (x, y) = (poisoned(g, s.batch * s.pixels)?, upload(g, &vec![u32::MAX; s.batch])?);
        let ds = ops::gather::gather_batch(g, s, &iv, &lv, &ov, &cv, &x, &y).map_err(err)?;
        let out = run_and_read(g, &[&ds[0], &ds[1]], &[&x]).await?;
        let cursor: Vec<u32> = cv.read(g).await.map_err(err)?;
        Ok((out.into_iter().next().expect("x"), y.read(g).await.map_err(err)?, cursor[0]))
    }

    async fn network_logits(&self, spec: &Spec, values: &[Vec<f32>], images: &[f32]) -> Result<(Vec<f32>, String), String> {
        let g = &self.gpu;
        let mut model = Model::new(g, spec, 1).map_err(err)?;
        model.kernels.forced_conv = self.kernel.or(model.kernels.forced_conv);
        model.write_tensors(values);
        let graph = Graph::new(&model, images.len() / 784, None).map_err(err)?;
        crate::train::predict(g, &graph, images).await.map_err(err)?;
        let label = format!("{} B", g.limits.min_storage_buffer_offset_alignment);
        Ok((graph.logits.read(g).await.map_err(err)?, label))
    }

    fn bad_shapes_are_errors(&self) -> Result<Vec<String>, String> {
        let (gpu, kernel) = (&self.gpu, self.kernel.unwrap_or(Kernel::Tiled));
        let v = |n| View::new(gpu, "t", n).map_err(err);
        let s = conv(1, 1, 5, 5, 2, 3, 3);
        let mut checked = vec![
            expect_err(
                "conv2d with a wrong-sized input",
                ops::conv2d::conv2d_forward(gpu, &s, &v(24)?, &v(18)?, &v(2)?, &v(18)?, false, kernel),
            )?,
            expect_err(
                "conv2d with a kernel larger than the input",
                ops::conv2d::conv2d_forward(gpu, &conv(1, 1, 2, 2, 1, 3, 3), &v(4)?, &v(9)?, &v(1)?, &v(1)?, false, kernel),
            )?,
            expect_err(
                "matmul with mismatched inner sizes",
                ops::dense::matmul(gpu, &BAD_MATMUL, &v(8)?, &v(10)?, None, false, &v(6)?, kernel),
            )?,
            expect_err("maxpool of a 1x1 input", ops::maxpool::maxpool_forward(gpu, &ONE_BY_ONE, &v(1)?, &v(1)?, &v(1)?))?,
        ];
        let too_big = gpu.limits.max_storage_buffer_binding_size as usize / 4 + 1;
        match View::new(gpu, "huge", too_big) {
            Err(crate::Error::TooLarge(_)) => checked.push("a buffer over the binding limit".into()),
            other => return Err(format!("a buffer over the binding limit: {:?}", other.map(|_| ()))),
        }
        let mut tiny = gpu.clone();
        tiny.max_workgroups_per_dim = 1;
        tiny.limits.max_compute_workgroups_per_dimension = 2;
        checked.push(expect_err("a dispatch over the workgroup limit", ops::relu::relu_forward(&tiny, 5000, &v(5000)?, &v(5000)?))?);
        Ok(checked)
    }
}

/// The CPU engine (`crate::cpu`): no device; convolution rows run once per algorithm this
/// CPU has (`cpu::conv2d::Algo::all`), others once.
#[derive(Clone, Copy, Default)]
pub struct CpuEngine {
    /// The convolution algorithm, where the shape allows it; `None`: the engine's choice.
    pub conv: Option<cpu::conv2d::Algo>,
}

/// The CPU engine as it runs in training: every op by its own choice.
pub const CPU_ENGINE: CpuEngine = CpuEngine { conv: None };

impl OpEngine for CpuEngine {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn variants(&self, widen: Widen, _row: usize) -> Vec<(CpuEngine, String)> {
        match widen {
            Widen::ConvKernels => cpu::conv2d::Algo::all().into_iter().map(|a| (CpuEngine { conv: Some(a) }, a.name())).collect(),
            _ => vec![(*self, String::new())],
        }
    }

    async fn conv2d(&self, s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        use cpu::conv2d::Algo;
        // A direct algorithm asked of a shape it does not compute (stride 2) runs im2col.
        let algo = match self.conv {
            None => Algo::for_shape(s),
            Some(a) if a.computes(s) => a,
            Some(_) => Algo::Im2colGemm,
        };
        let (mut y, mut dx, mut dw, mut db) = (nan(s.output_len()), nan(s.input_len()), nan(s.weight_len()), nan(s.out_c));
        cpu::conv2d::conv2d_forward_by(algo, s, x, w, b, &mut y, relu).map_err(err)?;
        cpu::conv2d::conv2d_backward_input_by(algo, s, dy, w, &mut dx);
        cpu::conv2d::conv2d_backward_weights_by(algo, s, x, dy, &mut dw);
        cpu::conv2d::conv2d_backward_bias(s, dy, &mut db);
        Ok([y, dx, dw, db])
    }

    async fn maxpool(&self, s: &PoolShape, x: &[f32], dy: &[f32]) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>), String> {
        let (mut y, mut arg, mut dx) = (nan(s.output_len()), vec![u32::MAX; s.output_len()], nan(s.input_len()));
        cpu::maxpool::maxpool_forward(s, x, &mut y, &mut arg).map_err(err)?;
        cpu::maxpool::maxpool_backward(s, dy, &arg, &mut dx);
        Ok((y, arg, dx))
    }

    async fn matmul(&self, s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Result<Vec<f32>, String> {
        let mut c = nan(s.m * s.n);
        cpu::dense::matmul(s, a, b, bias, relu, &mut c).map_err(err)?;
        Ok(c)
    }

    async fn dense(&self, s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        let (mut y, mut dx, mut dw, mut db) = (nan(s.batch * s.out_f), nan(s.batch * s.in_f), nan(s.out_f * s.in_f), nan(s.out_f));
        cpu::dense::dense_forward(s, x, w, b, &mut y, relu);
        cpu::dense::dense_backward_input(s, dy, w, &mut dx);
        cpu::dense::dense_backward_weights(s, x, dy, &mut dw);
        cpu::dense::dense_backward_bias(s, dy, &mut db);
        Ok([y, dx, dw, db])
    }

    async fn relu(&self, x: &[f32], y_in: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (mut y, mut dx) = (nan(x.len()), nan(x.len()));
        cpu::relu::relu_forward(x, &mut y);
        cpu::relu::relu_backward(y_in, dy, &mut dx);
        Ok([y, dx])
    }

    async fn normalize(&self, mean: f32, std: f32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (mut y, mut dx) = (nan(x.len()), nan(x.len()));
        cpu::normalize::normalize_forward(mean, std, x, &mut y);
        cpu::normalize::normalize_backward(std, dy, &mut dx);
        Ok([y, dx])
    }

    async fn dropout(&self, c: &DropoutConfig, step: u32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (mut y, mut dx) = (nan(x.len()), nan(x.len()));
        cpu::dropout::dropout_forward(c, step, x, &mut y);
        cpu::dropout::dropout_backward(c, step, dy, &mut dx);
        Ok([y, dx])
    }

    async fn batchnorm(
        &self,
        s: &BatchNormShape,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        running: &[f32],
        dy: &[f32],
    ) -> Result<BatchNormOut, String> {
        let c = s.channels;
        let (mut y_eval, mut y, mut stats, mut running) = (nan(s.len()), nan(s.len()), nan(2 * c), running.to_vec());
        let (mut dx, mut dgamma, mut dbeta) = (nan(s.len()), nan(c), nan(c));
        cpu::batchnorm::batchnorm_forward(s, false, x, gamma, beta, &mut nan(2 * c), &mut running, &mut y_eval);
        cpu::batchnorm::batchnorm_forward(s, true, x, gamma, beta, &mut stats, &mut running, &mut y);
        cpu::batchnorm::batchnorm_backward(s, x, dy, gamma, &stats, &mut dgamma, &mut dbeta, &mut dx);
        Ok((y_eval, y, stats, running, dx, dgamma, dbeta))
    }

    async fn softmax_xent(&self, n: usize, classes: usize, logits: &[f32], labels: &[u32]) -> Result<[Vec<f32>; 3], String> {
        let (mut grad, mut loss, mut correct, mut probs) = (nan(n * classes), nan(n), nan(n), nan(n * classes));
        cpu::softmax_xent::softmax_xent(n, classes, logits, labels, &mut grad, &mut loss, &mut correct);
        cpu::softmax_xent::softmax(n, classes, logits, &mut probs);
        // The trainer accumulates a batch's sums the same way (train::CpuExec).
        let (l, c): (f32, f32) = (loss.iter().sum(), correct.iter().sum());
        Ok([grad, vec![2.0 * l, 2.0 * c, 2.0 * n as f32], probs])
    }

    async fn optimizer_steps(
        &self,
        opt: &Optimizer,
        rates: &[f32],
        params: &[f32],
        grads: &[Vec<f32>],
    ) -> Result<(Vec<Vec<f32>>, u32), String> {
        let (mut p, mut s1, mut s2) = (params.to_vec(), vec![0f32; params.len()], vec![0f32; params.len()]);
        let mut out = Vec::new();
        for (step, grad) in grads.iter().enumerate() {
            let opt = opt.with_lr(ops::optim::rate_at(rates, step as u32));
            cpu::optim::optimizer_step(&opt, step as u32 + 1, &mut p, grad, &mut s1, &mut s2);
            out.push(p.clone());
        }
        Ok((out, grads.len() as u32))
    }

    async fn gather(
        &self,
        s: &GatherShape,
        images: &[u8],
        labels: &[u32],
        order: &[u32],
        cursor: u32,
    ) -> Result<(Vec<f32>, Vec<u32>, u32), String> {
        let (mut x, mut y) = (nan(s.batch * s.pixels), vec![u32::MAX; s.batch]);
        cpu::gather::gather_batch(s, images, labels, order, cursor as usize, &mut x, &mut y);
        Ok((x, y, cursor + s.batch as u32))
    }

    async fn network_logits(&self, spec: &Spec, values: &[Vec<f32>], images: &[f32]) -> Result<(Vec<f32>, String), String> {
        let mut model = CpuModel::new(spec, 1).map_err(err)?;
        model.write_tensors(values);
        let mut graph = CpuGraph::new(&model, images.len() / 784, false).map_err(err)?;
        graph.input_mut().0.copy_from_slice(images);
        graph.forward(&mut model);
        Ok((graph.logits().to_vec(), "packed".into()))
    }

    fn bad_shapes_are_errors(&self) -> Result<Vec<String>, String> {
        let s = conv(1, 1, 5, 5, 2, 3, 3);
        Ok(vec![
            expect_err(
                "conv2d with a wrong-sized input",
                cpu::conv2d::conv2d_forward(&s, &[0.0; 24], &[0.0; 18], &[0.0; 2], &mut [0.0; 18], false),
            )?,
            expect_err(
                "conv2d with a kernel larger than the input",
                cpu::conv2d::conv2d_forward(&conv(1, 1, 2, 2, 1, 3, 3), &[0.0; 4], &[0.0; 9], &[0.0; 1], &mut [0.0; 1], false),
            )?,
            expect_err(
                "matmul with mismatched inner sizes",
                cpu::dense::matmul(&BAD_MATMUL, &[0.0; 8], &[0.0; 10], None, false, &mut [0.0; 6]),
            )?,
            expect_err("maxpool of a 1x1 input", cpu::maxpool::maxpool_forward(&ONE_BY_ONE, &[0.0], &mut [0.0], &mut [0]))?,
        ])
    }
}

const BAD_MATMUL: MatmulShape = MatmulShape { m: 2, n: 3, k: 4, trans_a: false, trans_b: false };
const ONE_BY_ONE: PoolShape = PoolShape { planes: 1, in_h: 1, in_w: 1 };

fn conv(batch: usize, in_c: usize, in_h: usize, in_w: usize, out_c: usize, k_h: usize, k_w: usize) -> Conv2dShape {
    Conv2dShape { batch, in_c, in_h, in_w, out_c, k_h, k_w, stride: 1, pad_h: 0, pad_w: 0 }
}

/// Ok(what) when `r` is a shape or size error; the same kinds on every engine.
fn expect_err<T>(what: &str, r: Result<T, crate::Error>) -> Result<String, String> {
    match r {
        Err(crate::Error::Shape(_)) | Err(crate::Error::TooLarge(_)) => Ok(what.to_string()),
        Err(e) => Err(format!("{what}: unexpected error kind {e}")),
        Ok(_) => Err(format!("{what}: was accepted")),
    }
}
