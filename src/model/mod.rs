//! A network: its spec and plan, where its tensors live, their starting values, and model
//! files; the network resident on either engine (`gpu`, `cpu`) and the one facade the
//! trainer, the command line and the page hold it by (`net`, `exec`).

pub mod cpu;
pub mod digit_map;
pub mod exec;
mod exec_cpu;
#[cfg(feature = "gpu")]
mod exec_gpu;
pub mod explain;
#[cfg(feature = "gpu")]
pub mod gpu;
#[cfg(feature = "gpu")]
pub mod graph;
pub mod init;
pub mod net;
pub mod plan;
pub mod reference;
pub mod safetensors;
pub mod spec;

use crate::rng::Rng;
pub use cpu::{CpuGraph, CpuModel};
pub use exec::{Metrics, Predictor};
#[cfg(feature = "gpu")]
pub use gpu::{GpuModel, TensorReader};
#[cfg(feature = "gpu")]
pub use graph::Graph;
pub use net::{Engine, EngineChoice, Net};
pub use plan::{plan, summary, Planned, CLASSES, INPUT};
pub use spec::{Layer, Spec, PRESETS};

/// The predicted class of each row of `probs` ([n, CLASSES]): the first largest value, as
/// the accuracy counts of both engines and the reference take it.
pub fn predicted_classes(probs: &[f32]) -> impl Iterator<Item = usize> + '_ {
    probs.chunks(CLASSES).map(|row| (0..row.len()).fold(0, |best, j| if row[j] > row[best] { j } else { best }))
}

/// One named tensor of the state dict and where it lives.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// In the parameter buffer (trainable) or the state buffer (running statistics).
    pub trainable: bool,
    /// Offset in words, aligned for binding.
    pub offset: u64,
    pub len: usize,
}

/// Each tensor with its values, cut from the flat parameter and state buffers.
pub fn named_values(tensors: &[Tensor], params: &[f32], state: &[f32]) -> Vec<(Tensor, Vec<f32>)> {
    tensors
        .iter()
        .map(|t| {
            let src = if t.trainable { params } else { state };
            (t.clone(), src[t.offset as usize..t.offset as usize + t.len].to_vec())
        })
        .collect()
}

/// The seed of a model's dropout masks, from its initialisation seed (both engines).
pub fn dropout_seed(seed: u64) -> u32 {
    (seed as u32) ^ 0x5eed
}

/// Where each tensor lives in the flat parameter and state buffers: (tensors, parameter
/// words, state words). Each trainable tensor is bound on its own, so it starts at a
/// multiple of `align` words; a layer's state (running mean, then variance) is bound as
/// one range, packed.
pub fn layout(layers: &[Planned], align: u64) -> (Vec<Tensor>, usize, usize) {
    let (mut tensors, mut next) = (Vec::new(), [0u64, 0u64]);
    for l in layers {
        let mut first_state = true;
        for (name, shape, trainable) in l.tensors() {
            let len: usize = shape.iter().product();
            let slot = &mut next[!trainable as usize];
            let offset = if trainable || first_state { slot.div_ceil(align) * align } else { *slot };
            first_state &= trainable;
            *slot = offset + len as u64;
            tensors.push(Tensor { name, shape, trainable, offset, len });
        }
    }
    (tensors, next[0] as usize, next[1] as usize)
}

/// Every parameter's starting value (the spec's framework default, seeded) and the
/// running statistics' (mean 0, variance 1), laid out as `tensors` says.
pub fn initial_values(
    spec: &Spec,
    layers: &[Planned],
    tensors: &[Tensor],
    param_words: usize,
    state_words: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let (mut params, mut state) = (vec![0f32; param_words], vec![0f32; state_words]);
    for l in layers {
        let names: Vec<String> = l.tensors().into_iter().map(|t| t.0).collect();
        let find = |n: &str| tensors.iter().find(|t| t.name == n).unwrap();
        let range = |t: &Tensor| t.offset as usize..t.offset as usize + t.len;
        match l {
            Planned::Conv { .. } | Planned::Dense { .. } => {
                let (w, b) = (range(find(&names[0])), range(find(&names[1])));
                let (fan_in, fan_out) = fans(l);
                let (mut wv, mut bv) = (params[w.clone()].to_vec(), params[b.clone()].to_vec());
                init::init_layer(spec.init, &mut rng, &mut wv, &mut bv, fan_in, fan_out, matches!(l, Planned::Dense { .. }));
                params[w].copy_from_slice(&wv);
                params[b].copy_from_slice(&bv);
            }
            Planned::BatchNorm { .. } => {
                params[range(find(&names[0]))].fill(1.0);
                state[range(find(&names[3]))].fill(1.0);
            }
            _ => {}
        }
    }
    (params, state)
}

/// (fan_in, fan_out) of a conv or dense layer, counting the receptive field as Keras does.
fn fans(l: &Planned) -> (usize, usize) {
    match l {
        Planned::Conv { input, out_c, kernel, .. } => (input.0 * kernel * kernel, out_c * kernel * kernel),
        Planned::Dense { in_f, out_f, .. } => (*in_f, *out_f),
        _ => (1, 1),
    }
}
