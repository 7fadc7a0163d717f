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

/// Saliency on the reference ops: d logit[classes[r]] / d x for each image r of `x`
/// [batch, 784], in eval mode, by each layer's reference backward pass (each of which the
/// suite checks against finite differences on its own).
pub fn input_gradients(layers: &[Planned], tensors: &[(Tensor, Vec<f32>)], batch: usize, x: &[f32], classes: &[u32]) -> Vec<f32> {
    let get = |name: &str| tensors.iter().find(|(t, _)| t.name == name).map(|(_, v)| v.as_slice()).expect("tensor present");
    let outputs = forward_all(layers, tensors, batch, x);
    let mut dy = vec![0f32; batch * super::CLASSES];
    classes.iter().enumerate().for_each(|(r, &c)| dy[r * super::CLASSES + c as usize] = 1.0);
    for (i, layer) in layers.iter().enumerate().rev() {
        let input = if i == 0 { x } else { &outputs[i - 1] };
        let y = &outputs[i];
        let relu_masked = |relu: bool, dy: &[f32]| if relu { crate::reference::relu::relu_backward(y, dy) } else { dy.to_vec() };
        dy = match layer {
            Planned::Conv { name, relu, .. } => crate::reference::conv2d::conv2d_backward_input(
                &layer.conv_shape(batch),
                &relu_masked(*relu, &dy),
                get(&format!("{name}.weight")),
            ),
            Planned::Dense { name, in_f, out_f, relu } => crate::reference::dense::dense_backward_input(
                &DenseShape { batch, in_f: *in_f, out_f: *out_f },
                &relu_masked(*relu, &dy),
                get(&format!("{name}.weight")),
            ),
            Planned::Normalize { std, .. } => crate::reference::normalize::normalize_backward(*std, &dy),
            Planned::Relu { .. } => crate::reference::relu::relu_backward(y, &dy),
            Planned::MaxPool { input: (c, h, w) } => {
                let s = PoolShape { planes: batch * c, in_h: *h, in_w: *w };
                crate::reference::maxpool::maxpool_backward(&s, &dy, &crate::reference::maxpool::maxpool_forward(&s, input).1)
            }
            Planned::Dropout { .. } => dy,
            Planned::BatchNorm { name, .. } => {
                let running: Vec<f32> =
                    get(&format!("{name}.running_mean")).iter().chain(get(&format!("{name}.running_var"))).copied().collect();
                crate::reference::batchnorm::batchnorm_backward_eval(
                    &layer.batchnorm_shape(batch),
                    &dy,
                    get(&format!("{name}.weight")),
                    &running,
                )
            }
        };
    }
    dy
}
