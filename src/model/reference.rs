//! A whole network's forward pass on the f64 reference ops (`crate::reference`): the check of
//! both engines' networks, and the page's predictions when its GPU device was lost.

use super::{Planned, Tensor};
use crate::desc::conv2d::Conv2dShape;
use crate::desc::dense::DenseShape;
use crate::desc::maxpool::PoolShape;

/// Logits [batch, 10] of `x` [batch, 784] in eval mode (dropout off, batch norm on its
/// running statistics). `tensors` in state-dict order, as `Net::read_tensors` gives.
pub fn forward(layers: &[Planned], tensors: &[(Tensor, Vec<f32>)], batch: usize, x: &[f32]) -> Vec<f32> {
    forward_all(layers, tensors, batch, x).pop().unwrap_or_else(|| x.to_vec())
}

/// Every layer's output of `forward`, in the plan's order (the last is the logits).
pub fn forward_all(layers: &[Planned], tensors: &[(Tensor, Vec<f32>)], batch: usize, x: &[f32]) -> Vec<Vec<f32>> {
    let get = |name: &str| tensors.iter().find(|(t, _)| t.name == name).map(|(_, v)| v.as_slice()).expect("tensor present");
    let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(layers.len());
    for layer in layers {
        let x = outputs.last().map_or(x, Vec::as_slice).to_vec();
        let y = match layer {
            Planned::Conv { name, input: (c, h, w), out_c, kernel, pad, relu } => {
                let s = Conv2dShape {
                    batch,
                    in_c: *c,
                    in_h: *h,
                    in_w: *w,
                    out_c: *out_c,
                    k_h: *kernel,
                    k_w: *kernel,
                    stride: 1,
                    pad_h: *pad,
                    pad_w: *pad,
                };
                crate::reference::conv2d::conv2d_forward(&s, &x, get(&format!("{name}.weight")), get(&format!("{name}.bias")), *relu)
            }
            Planned::Normalize { mean, std, .. } => crate::reference::normalize::normalize_forward(*mean, *std, &x),
            Planned::Relu { .. } => crate::reference::relu::relu_forward(&x),
            Planned::MaxPool { input: (c, h, w) } => {
                crate::reference::maxpool::maxpool_forward(&PoolShape { planes: batch * c, in_h: *h, in_w: *w }, &x).0
            }
            Planned::Dropout { .. } => x,
            Planned::BatchNorm { name, .. } => {
                let s = layer.batchnorm_shape(batch);
                let mut running: Vec<f32> =
                    get(&format!("{name}.running_mean")).iter().chain(get(&format!("{name}.running_var"))).copied().collect();
                crate::reference::batchnorm::batchnorm_forward(
                    &s,
                    false,
                    &x,
                    get(&format!("{name}.weight")),
                    get(&format!("{name}.bias")),
                    &mut running,
                )
                .0
            }
            Planned::Dense { name, in_f, out_f, relu } => {
                let s = DenseShape { batch, in_f: *in_f, out_f: *out_f };
                crate::reference::dense::dense_forward(&s, &x, get(&format!("{name}.weight")), get(&format!("{name}.bias")), *relu)
            }
        };
        outputs.push(y);
    }
    outputs
}
