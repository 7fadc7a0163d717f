//! Resolves a spec into layers with shapes and PyTorch-style parameter names.

use super::spec::{Layer, Spec};
use crate::desc::batchnorm::BatchNormShape;
use crate::desc::conv2d::Conv2dShape;
use crate::desc::dropout::pcg_hash;
use crate::desc::dropout::DropoutConfig;
use crate::error::{shape_err, Error};

/// Channels, height, width of one example (a dense output is (features, 1, 1)).
pub type Dims = (usize, usize, usize);

/// The MNIST input.
pub const INPUT: Dims = (1, 28, 28);
pub const CLASSES: usize = 10;

/// A layer with its shapes resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Planned {
    Normalize {
        dims: Dims,
        mean: f32,
        std: f32,
    },
    /// ReLU fused into the output when the spec's next layer is a ReLU.
    Conv {
        name: String,
        input: Dims,
        out_c: usize,
        kernel: usize,
        pad: usize,
        relu: bool,
    },
    Relu {
        dims: Dims,
    },
    MaxPool {
        input: Dims,
    },
    Dropout {
        dims: Dims,
        rate: f32,
        unit: usize,
    },
    BatchNorm {
        name: String,
        dims: Dims,
        eps: f32,
        momentum: f32,
        rows: bool,
    },
    Dense {
        name: String,
        in_f: usize,
        out_f: usize,
        relu: bool,
    },
}

impl Planned {
    /// A batch-norm layer as the batchnorm op sees it. Rows are channel batch norm on a
    /// reshaped view: NCHW read as (N*C) x H x W has one "channel" per image row.
    pub fn batchnorm_shape(&self, batch: usize) -> BatchNormShape {
        let Planned::BatchNorm { dims: (c, h, w), eps, momentum, rows, .. } = *self else { panic!("not a batch-norm layer") };
        let (n, channels, inner) = if rows { (batch * c, h, w) } else { (batch, c, h * w) };
        BatchNormShape { n, channels, inner, eps, momentum }
    }

    /// A convolution layer as the conv2d op sees it.
    pub fn conv_shape(&self, batch: usize) -> Conv2dShape {
        let Planned::Conv { input: (in_c, in_h, in_w), out_c, kernel, pad, .. } = *self else { panic!("not a convolution") };
        Conv2dShape { batch, in_c, in_h, in_w, out_c, k_h: kernel, k_w: kernel, stride: 1, pad_h: pad, pad_w: pad }
    }

    /// A dropout layer's training-mode config: its masks follow the model's dropout seed
    /// and the layer's index, the same on every engine.
    pub fn dropout_config(&self, model_seed: u32, index: usize) -> DropoutConfig {
        let Planned::Dropout { rate, unit, .. } = *self else { panic!("not a dropout layer") };
        DropoutConfig { rate, unit_size: unit, seed: pcg_hash(model_seed ^ index as u32), training: true }
    }

    /// Shape of one example's output.
    pub fn output(&self) -> Dims {
        match self {
            Planned::Conv { input: (_, h, w), out_c, kernel, pad, .. } => (*out_c, h + 2 * pad - kernel + 1, w + 2 * pad - kernel + 1),
            Planned::Normalize { dims, .. } | Planned::Relu { dims } | Planned::Dropout { dims, .. } | Planned::BatchNorm { dims, .. } => {
                *dims
            }
            Planned::MaxPool { input: (c, h, w) } => (*c, h / 2, w / 2),
            Planned::Dense { out_f, .. } => (*out_f, 1, 1),
        }
    }

    /// Parameter tensors (name, shape, trainable) in state-dict order.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, bool)> {
        match self {
            Planned::Conv { name, input, out_c, kernel, .. } => vec![
                (format!("{name}.weight"), vec![*out_c, input.0, *kernel, *kernel], true),
                (format!("{name}.bias"), vec![*out_c], true),
            ],
            Planned::Dense { name, in_f, out_f, .. } => {
                vec![(format!("{name}.weight"), vec![*out_f, *in_f], true), (format!("{name}.bias"), vec![*out_f], true)]
            }
            Planned::BatchNorm { name, .. } => {
                let features = self.batchnorm_shape(1).channels;
                ["weight", "bias", "running_mean", "running_var"]
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("{name}.{t}"), vec![features], i < 2))
                    .collect()
            }
            _ => vec![],
        }
    }

    /// One line for the summary: kind and settings.
    /// The layer's kind in one word ("conv", "maxpool", "dense", ...): the `{type}` of
    /// the name `layer{i}.{type}` its output goes by.
    pub fn kind(&self) -> &'static str {
        match self {
            Planned::Conv { .. } => "conv",
            Planned::Normalize { .. } => "normalize",
            Planned::Relu { .. } => "relu",
            Planned::MaxPool { .. } => "maxpool",
            Planned::Dropout { .. } => "dropout",
            Planned::BatchNorm { .. } => "batchnorm",
            Planned::Dense { .. } => "dense",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Planned::Conv { name, out_c, kernel, pad, relu, .. } => {
                format!("{name} Conv2d {out_c} {kernel}x{kernel} pad {pad}{}", if *relu { " + ReLU" } else { "" })
            }
            Planned::Normalize { mean, std, .. } => format!("Normalize mean {mean} std {std}"),
            Planned::Relu { .. } => "ReLU".into(),
            Planned::MaxPool { .. } => "MaxPool 2x2".into(),
            Planned::Dropout { rate, unit, .. } => format!("{} {rate}", if *unit > 1 { "Dropout2d" } else { "Dropout" }),
            Planned::BatchNorm { name, rows, .. } => format!("{name} BatchNorm{}", if *rows { " over rows" } else { "" }),
            Planned::Dense { name, out_f, relu, .. } => format!("{name} Dense {out_f}{}", if *relu { " + ReLU" } else { "" }),
        }
    }
}

/// A training step's backward pass (every parameter's gradient, in batch mode), or
/// saliency's (the input gradient alone, in eval mode).
#[derive(Clone, Copy, PartialEq)]
pub enum Backward {
    Train,
    InputOnly,
}

/// Whether layer `i`'s input gradient is needed in training: only when a layer before it
/// has parameters (a Normalize or the first convolution gets none).
pub fn input_gradient_needed(layers: &[Planned], i: usize) -> bool {
    layers[..i].iter().any(|l| l.tensors().iter().any(|t| t.2))
}

fn len(d: Dims) -> usize {
    d.0 * d.1 * d.2
}

/// Resolves shapes, folds ZeroPad into the next convolution and ReLU into the layer
/// before it where that layer can fuse it, and names parameters conv1, bn1, fc1, ...
/// (a single dense layer is `fc`, as in the tutorials' state dicts).
pub fn plan(spec: &Spec) -> Result<Vec<Planned>, Error> {
    let mut out: Vec<Planned> = Vec::new();
    let mut dims = INPUT;
    let mut pending_pad = 0;
    let (mut convs, mut bns, mut denses) = (0, 0, 0);
    let dense_total = spec.layers.iter().filter(|l| matches!(l, Layer::Dense { .. })).count();
    for layer in &spec.layers {
        if pending_pad > 0 && !matches!(layer, Layer::Conv { .. } | Layer::ZeroPad { .. }) {
            return Err(shape_err!("{}: ZeroPad must be followed by a convolution", spec.name));
        }
        let planned = match *layer {
            Layer::ZeroPad { pad } => {
                pending_pad += pad;
                continue;
            }
            Layer::Flatten => {
                dims = (len(dims), 1, 1);
                continue;
            }
            Layer::Relu => {
                match out.last_mut() {
                    Some(Planned::Conv { relu, .. }) | Some(Planned::Dense { relu, .. }) if !*relu => *relu = true,
                    _ => out.push(Planned::Relu { dims }),
                }
                continue;
            }
            Layer::Conv { out: out_c, kernel, pad } => {
                let pad = pad + std::mem::take(&mut pending_pad);
                if dims.1 + 2 * pad < kernel || dims.2 + 2 * pad < kernel {
                    return Err(shape_err!("{}: a {kernel}x{kernel} convolution does not fit a {}x{} input", spec.name, dims.1, dims.2));
                }
                convs += 1;
                Planned::Conv { name: format!("conv{convs}"), input: dims, out_c, kernel, pad, relu: false }
            }
            Layer::MaxPool => {
                if dims.1 < 2 || dims.2 < 2 {
                    return Err(shape_err!("{}: cannot pool a {}x{} input", spec.name, dims.1, dims.2));
                }
                Planned::MaxPool { input: dims }
            }
            Layer::Normalize { mean, std } => {
                if !(std.is_finite() && std > 0.0 && mean.is_finite()) {
                    return Err(shape_err!("{}: Normalize needs a finite mean and a positive std, not {mean} and {std}", spec.name));
                }
                Planned::Normalize { dims, mean, std }
            }
            Layer::Dropout { rate } => Planned::Dropout { dims, rate, unit: 1 },
            Layer::Dropout2d { rate } => Planned::Dropout { dims, rate, unit: dims.1 * dims.2 },
            Layer::BatchNorm { eps, momentum, rows } => {
                bns += 1;
                Planned::BatchNorm { name: format!("bn{bns}"), dims, eps, momentum, rows }
            }
            Layer::Dense { out: out_f } => {
                denses += 1;
                let name = if dense_total == 1 { "fc".to_string() } else { format!("fc{denses}") };
                Planned::Dense { name, in_f: len(dims), out_f, relu: false }
            }
        };
        dims = planned.output();
        out.push(planned);
    }
    if len(dims) != CLASSES {
        return Err(shape_err!("{}: the last layer gives {} outputs, not {CLASSES}", spec.name, len(dims)));
    }
    if matches!(out.last(), Some(Planned::Conv { relu: true, .. }) | Some(Planned::Dense { relu: true, .. }) | Some(Planned::Relu { .. })) {
        return Err(shape_err!("{}: the network must end in logits, not a ReLU", spec.name));
    }
    Ok(out)
}

/// Keras-style summary: layer, output shape, parameters; then the totals.
pub fn summary(spec: &Spec) -> Result<String, Error> {
    let layers = plan(spec)?;
    let mut s = format!("{}\n{:<34} {:<16} {:>10}\n", spec.name, "layer", "output shape", "params");
    let mut total = 0;
    for l in &layers {
        let (c, h, w) = l.output();
        let n: usize = l.tensors().iter().filter(|t| t.2).map(|t| t.1.iter().product::<usize>()).sum();
        total += n;
        let shape = if h == 1 && w == 1 && matches!(l, Planned::Dense { .. }) { format!("({c})") } else { format!("({c}, {h}, {w})") };
        s += &format!("{:<34} {:<16} {:>10}\n", l.describe(), shape, n);
    }
    s += &format!("total trainable parameters: {total}\n");
    Ok(s)
}
