//! The engines under test, behind one trait, so each suite case is written once and run
//! on the GPU (natively and in the browser) and on the CPU engine. Every method takes
//! host inputs, runs the engine's op with its outputs first filled with NaN (any element
//! an op fails to write shows up), and returns the outputs. `variants` is how an engine
//! widens a table row: the GPU runs each row under every candidate kernel of its op (the
//! kernels `model::tune` chooses among) and every other row on a 2-D grid of workgroups
//! with a ragged last row; the CPU engine has one configuration.

use crate::cpu;
use crate::desc::batchnorm::BatchNormShape;
use crate::desc::conv2d::Conv2dShape;
use crate::desc::dense::{DenseShape, MatmulShape};
use crate::desc::dropout::DropoutConfig;
use crate::desc::gather::GatherShape;
use crate::desc::maxpool::PoolShape;
use crate::desc::optim::Optimizer;
use crate::model::{CpuGraph, CpuModel, Spec};

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
    /// `rates` (`crate::desc::optim::rate_at`), and the step counter.
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

pub(super) fn err(e: crate::Error) -> String {
    e.to_string()
}

pub(super) fn nan(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
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
            let opt = opt.with_lr(crate::desc::optim::rate_at(rates, step as u32));
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

pub(super) const BAD_MATMUL: MatmulShape = MatmulShape { m: 2, n: 3, k: 4, trans_a: false, trans_b: false };
pub(super) const ONE_BY_ONE: PoolShape = PoolShape { planes: 1, in_h: 1, in_w: 1 };

pub(super) fn conv(batch: usize, in_c: usize, in_h: usize, in_w: usize, out_c: usize, k_h: usize, k_w: usize) -> Conv2dShape {
    Conv2dShape { batch, in_c, in_h, in_w, out_c, k_h, k_w, stride: 1, pad_h: 0, pad_w: 0 }
}

/// Ok(what) when `r` is a shape or size error; the same kinds on every engine.
pub(super) fn expect_err<T>(what: &str, r: Result<T, crate::Error>) -> Result<String, String> {
    match r {
        Err(crate::Error::Shape(_)) | Err(crate::Error::TooLarge(_)) => Ok(what.to_string()),
        Err(e) => Err(format!("{what}: unexpected error kind {e}")),
        Ok(_) => Err(format!("{what}: was accepted")),
    }
}
