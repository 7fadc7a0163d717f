//! Initial parameter values, after each framework's default (see `Init`).

use super::spec::Init;
use crate::rng::Rng;

/// Fills a layer's weights and bias. `fan_in` = in_c * k * k (or in features),
/// `fan_out` = out_c * k * k (or out features); `dense` tells MindSpore's two defaults apart.
pub fn init_layer(init: Init, rng: &mut Rng, weights: &mut [f32], bias: &mut [f32], fan_in: usize, fan_out: usize, dense: bool) {
    let uniform = |rng: &mut Rng, bound: f32| (rng.uniform() * 2.0 - 1.0) * bound;
    match init {
        Init::PytorchDefault => {
            let bound = 1.0 / (fan_in as f32).sqrt();
            weights.iter_mut().for_each(|w| *w = uniform(rng, bound));
            bias.iter_mut().for_each(|b| *b = uniform(rng, bound));
        }
        Init::GlorotUniform | Init::Xavier => {
            let bound = (6.0 / (fan_in + fan_out) as f32).sqrt();
            weights.iter_mut().for_each(|w| *w = uniform(rng, bound));
            bias.fill(0.0);
        }
        Init::MindsporeNormal => {
            let sigma = if dense { 0.02 } else { 0.01 };
            weights.iter_mut().for_each(|w| *w = sigma * rng.normal());
            bias.fill(0.0);
        }
    }
}
