//! The engines under test, so each suite case is written once and run on the GPU
//! (natively and in the browser) and on the CPU engine. `OpEngine` is what every engine
//! offers the suite; each op's own methods are its `Op` trait, in its case file under
//! `cases/` beside its cases. Every op method takes host inputs, runs the engine's op
//! with its outputs first filled with NaN (any element an op fails to write shows up),
//! and returns the outputs. `variants` is how an engine widens a table row: the GPU runs
//! each row under every candidate kernel of its op (the kernels `ops::tune` chooses
//! among) and every other row on a 2-D grid of workgroups with a ragged last row; the
//! CPU engine under each convolution algorithm it has.

use crate::cpu;
use crate::desc::conv2d::Conv2dShape;
use crate::desc::dense::MatmulShape;
use crate::desc::maxpool::PoolShape;
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
