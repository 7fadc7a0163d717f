//! Softmax cross-entropy loss and gradient in one pass, metric accumulation, and plain
//! softmax for inference (shaders/softmax_xent.wgsl). CPU twin: `reference::softmax_xent`.

use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use crate::error::{shape_err, Error};
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "softmax_xent", source: include_str!("../../shaders/softmax_xent.wgsl") };

uniform! {
    /// `XentParams` of shaders/softmax_xent.wgsl.
    pub struct XentParams { n: u32, classes: u32, _p0: u32, _p1: u32 }
}

fn params(n: usize, classes: usize) -> Result<XentParams, Error> {
    if n == 0 || classes == 0 {
        return Err(shape_err!("softmax: {n} rows of {classes} classes"));
    }
    Ok(XentParams { n: n as u32, classes: classes as u32, _p0: 0, _p1: 0 })
}

/// grad = (softmax(logits) - onehot(labels)) / n; per-row loss and correctness (1.0 / 0.0).
#[allow(clippy::too_many_arguments)]
pub fn softmax_xent(
    gpu: &Gpu,
    n: usize,
    classes: usize,
    logits: &View,
    labels: &View,
    grad: &View,
    row_loss: &View,
    row_correct: &View,
) -> Result<Dispatch, Error> {
    let p = params(n, classes)?;
    logits.expect("logits", n * classes)?;
    labels.expect("labels", n)?;
    grad.expect("logit gradient", n * classes)?;
    row_loss.expect("row losses", n)?;
    row_correct.expect("row correctness", n)?;
    Dispatch::new(gpu, SHADER, "softmax_xent", &p, &[(1, logits), (2, labels), (3, grad), (4, row_loss), (5, row_correct)], groups_for(n))
}

/// metrics += [sum of row losses, number correct, n].
pub fn accumulate_metrics(gpu: &Gpu, n: usize, row_loss: &View, row_correct: &View, metrics: &View) -> Result<Dispatch, Error> {
    let p = params(n, 1)?;
    row_loss.expect("row losses", n)?;
    row_correct.expect("row correctness", n)?;
    metrics.expect("metrics", 3)?;
    Dispatch::new(gpu, SHADER, "accumulate_metrics", &p, &[(6, row_loss), (7, row_correct), (8, metrics)], 1)
}

/// probs = softmax(logits), row by row.
pub fn softmax(gpu: &Gpu, n: usize, classes: usize, logits: &View, probs: &View) -> Result<Dispatch, Error> {
    let p = params(n, classes)?;
    logits.expect("logits", n * classes)?;
    probs.expect("probabilities", n * classes)?;
    Dispatch::new(gpu, SHADER, "softmax", &p, &[(1, logits), (9, probs)], groups_for(n))
}
