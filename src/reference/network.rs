//! A whole network's forward pass on the CPU reference ops: the engine for browsers
//! without WebGPU (prediction only) and a check of the GPU graph.

use crate::model::{Planned, Tensor};
use crate::ops::conv2d::Conv2dShape;
use crate::ops::dense::DenseShape;
use crate::ops::maxpool::PoolShape;

/// Logits [batch, 10] of `x` [batch, 784] in eval mode (dropout off, batch norm on its
/// running statistics). `tensors` in state-dict order, as `Model::read_tensors` gives.
pub fn forward(layers: &[Planned], tensors: &[(Tensor, Vec<f32>)], batch: usize, x: &[f32]) -> Vec<f32> {
    let get = |name: &str| tensors.iter().find(|(t, _)| t.name == name).map(|(_, v)| v.as_slice()).expect("tensor present");
    let mut x = x.to_vec();
    for layer in layers {
        x = match layer {
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
                super::conv2d::conv2d_forward(&s, &x, get(&format!("{name}.weight")), get(&format!("{name}.bias")), *relu)
            }
            Planned::Normalize { mean, std, .. } => super::normalize::normalize_forward(*mean, *std, &x),
            Planned::Relu { .. } => super::relu::relu_forward(&x),
            Planned::MaxPool { input: (c, h, w) } => {
                super::maxpool::maxpool_forward(&PoolShape { planes: batch * c, in_h: *h, in_w: *w }, &x).0
            }
            Planned::Dropout { .. } => x,
            Planned::BatchNorm { name, .. } => {
                let s = layer.batchnorm_shape(batch);
                let mut running: Vec<f32> =
                    get(&format!("{name}.running_mean")).iter().chain(get(&format!("{name}.running_var"))).copied().collect();
                super::batchnorm::batchnorm_forward(
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
                super::dense::dense_forward(&s, &x, get(&format!("{name}.weight")), get(&format!("{name}.bias")), *relu)
            }
        };
    }
    x
}
