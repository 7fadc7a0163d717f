//! A network as a list of layer descriptions, and the presets that reproduce the
//! tutorials users come from (see ../shared/seeds and the README's preset table).

use serde::{Deserialize, Serialize};

use crate::desc::optim::{Optimizer, Schedule};

/// One layer. Shapes follow from the input (1 x 28 x 28) and the layers before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Layer {
    /// torchvision's Normalize as the first layer: y = (x - mean) / std on pixels in
    /// [0, 1], so every input path (training batches, drawings, files) is normalized alike.
    Normalize {
        mean: f32,
        std: f32,
    },
    /// Convolution with bias; `pad` zero-pads both sides ("valid" is 0).
    Conv {
        out: usize,
        kernel: usize,
        pad: usize,
    },
    /// Keras' ZeroPadding2D, folded into the padding of the next convolution.
    ZeroPad {
        pad: usize,
    },
    Relu,
    /// Max-pooling 2x2, stride 2.
    MaxPool,
    /// Dropout of single elements.
    Dropout {
        rate: f32,
    },
    /// Dropout of whole channels (PyTorch's Dropout2d).
    Dropout2d {
        rate: f32,
    },
    /// Batch normalization (Keras' epsilon; `momentum` is the weight of each new batch
    /// in the running statistics, 1 - Keras' momentum). One mean and variance per
    /// channel, or with `rows` per image row, as Keras' `axis=1` on channels-last data.
    BatchNorm {
        eps: f32,
        momentum: f32,
        #[serde(default)]
        rows: bool,
    },
    Flatten,
    Dense {
        out: usize,
    },
}

/// How a preset's parameters start, after its framework's default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// PyTorch's default: kaiming-uniform with a = sqrt(5), i.e. weights and biases
    /// uniform in +-1/sqrt(fan_in).
    PytorchDefault,
    /// Keras' default: glorot-uniform weights, +-sqrt(6 / (fan_in + fan_out)); zero biases.
    GlorotUniform,
    /// MXNet's init.Xavier() (uniform, "avg", magnitude 3): the same bound as glorot; zero biases.
    Xavier,
    /// MindSpore's defaults: Conv2d's weight_init 'normal' is Normal(0, 0.01); the
    /// tutorial's Dense uses Normal(0, 0.02); zero biases. (MindSpore's Conv2d has no bias
    /// by default; here it has one, starting at zero.)
    MindsporeNormal,
}

/// A network and the training recipe of its tutorial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub name: String,
    pub layers: Vec<Layer>,
    pub init: Init,
    pub optimizer: Optimizer,
    /// The learning rate over the run (files from before schedules existed: constant).
    #[serde(default)]
    pub schedule: Schedule,
    pub batch: usize,
    pub epochs: usize,
    /// Fraction of the training set held out for validation (Keras' validation_split:
    /// the last images, before shuffling).
    pub validation_split: f32,
}

/// The names of every preset, in the order the app lists them.
pub const PRESETS: &[&str] =
    &["fast", "pytorch-cnn", "pytorch-cnn-3x3", "pytorch-convnet", "lenet", "mindspore", "keras-bn", "keras-bn-rows"];

fn adam(lr: f32) -> Optimizer {
    Optimizer::named("adam").expect("a known optimizer").with_lr(lr)
}

/// Keras' Adadelta defaults of the tutorial's time (Keras 2: lr 1.0, rho 0.95, eps 1e-7).
pub fn keras_adadelta() -> Optimizer {
    Optimizer::named("adadelta").expect("a known optimizer")
}

impl Spec {
    /// A preset by name.
    pub fn preset(name: &str) -> Option<Spec> {
        use Layer::*;
        let conv = |out, kernel, pad| Conv { out, kernel, pad };
        let spec = |layers: Vec<Layer>, init, optimizer, batch, epochs| Spec {
            name: name.to_string(),
            layers,
            init,
            optimizer,
            schedule: Schedule::Constant,
            batch,
            epochs,
            validation_split: 0.0,
        };
        Some(match name {
            // 99% in one epoch: a published recipe (issue 12; 99.04% mean test accuracy
            // over 30 seeds in PyTorch) at under half pytorch-cnn's FLOPs per image: Adam
            // with betas (0.7, 0.9), one-cycle to lr 0.01 over the epoch, batch 256,
            // inputs normalized with MNIST's mean and deviation.
            "fast" => {
                let mut s = spec(
                    vec![
                        Normalize { mean: 0.1307, std: 0.3081 },
                        conv(24, 5, 0),
                        MaxPool,
                        Relu,
                        conv(32, 3, 0),
                        MaxPool,
                        Relu,
                        Flatten,
                        Dense { out: 256 },
                        Relu,
                        Dense { out: 10 },
                    ],
                    Init::PytorchDefault,
                    Optimizer::Adam { lr: 0.01, beta1: 0.7, beta2: 0.9, eps: 1e-8, weight_decay: 0.0 },
                    256,
                    1,
                );
                s.schedule = Schedule::ONE_CYCLE;
                s
            }
            // PyTorch tutorial "CNN": two conv blocks with "same" padding, one dense layer.
            "pytorch-cnn" => spec(
                vec![conv(16, 5, 2), Relu, MaxPool, conv(32, 5, 2), Relu, MaxPool, Flatten, Dense { out: 10 }],
                Init::PytorchDefault,
                adam(1e-3),
                200,
                2,
            ),
            "pytorch-cnn-3x3" => spec(
                vec![conv(16, 3, 1), Relu, MaxPool, conv(32, 3, 1), Relu, MaxPool, Flatten, Dense { out: 10 }],
                Init::PytorchDefault,
                adam(1e-3),
                100,
                2,
            ),
            // PyTorch "ConvNet": pool before ReLU, Dropout2d; trained on logits (the
            // tutorial's Softmax before CrossEntropyLoss applied softmax twice).
            "pytorch-convnet" => spec(
                vec![
                    conv(32, 5, 0),
                    MaxPool,
                    Relu,
                    conv(64, 5, 0),
                    Dropout2d { rate: 0.5 },
                    MaxPool,
                    Relu,
                    Flatten,
                    Dense { out: 128 },
                    Relu,
                    Dropout { rate: 0.5 },
                    Dense { out: 10 },
                ],
                Init::PytorchDefault,
                adam(1e-3),
                32,
                1,
            ),
            // MXNet Gluon LeNet with Xavier init, Adam lr 0.01, batch 500.
            "lenet" => spec(
                vec![
                    conv(6, 5, 0),
                    Relu,
                    MaxPool,
                    conv(16, 5, 0),
                    Relu,
                    MaxPool,
                    Flatten,
                    Dense { out: 120 },
                    Relu,
                    Dense { out: 84 },
                    Relu,
                    Dense { out: 10 },
                ],
                Init::Xavier,
                adam(0.01),
                500,
                10,
            ),
            // MindSpore two-conv net, SGD momentum 0.9, lr 0.01. The tutorial trained
            // full-batch (60,000 images per step, 100 steps); that does not fit one
            // GPU binding, so this preset takes mini-batches of 64 (see the README).
            "mindspore" => spec(
                vec![conv(16, 5, 0), Relu, MaxPool, conv(32, 5, 0), Relu, MaxPool, Flatten, Dense { out: 10 }],
                Init::MindsporeNormal,
                Optimizer::Sgd { lr: 0.01, momentum: 0.9, nesterov: false, weight_decay: 0.0 },
                64,
                1,
            ),
            // Keras CNN with batch norm, Adadelta, batch 64. `keras-bn` normalizes each
            // channel, as batch norm after a conv is meant to; `keras-bn-rows` is the
            // tutorial exactly: its axis=1 on channels-last data normalized image rows
            // (13 and 7 features, the parameter counts its summary prints).
            "keras-bn" | "keras-bn-rows" => {
                let bn = BatchNorm { eps: 1e-6, momentum: 0.01, rows: name == "keras-bn-rows" };
                let mut s = spec(
                    vec![
                        conv(32, 3, 0),
                        Relu,
                        MaxPool,
                        ZeroPad { pad: 1 },
                        conv(48, 3, 0),
                        Relu,
                        bn.clone(),
                        MaxPool,
                        ZeroPad { pad: 1 },
                        conv(64, 2, 0),
                        Relu,
                        bn,
                        MaxPool,
                        Dropout { rate: 0.25 },
                        Flatten,
                        Dense { out: 3168 },
                        Relu,
                        Dense { out: 10 },
                    ],
                    Init::GlorotUniform,
                    keras_adadelta(),
                    64,
                    12,
                );
                s.validation_split = 0.2;
                s
            }
            _ => return None,
        })
    }
}
