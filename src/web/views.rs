//! The page's views of a network's reasoning: every layer's output for the drawing,
//! every convolution's filters, saliency (which pixels made the answer), and the map of
//! the digits (the penultimate layer's features of test images, projected to 2-D).

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::error::{js, request, state, typed};
use super::{training, Session};
use crate::data::pixels_to_input;
use crate::model::digit_map::DigitMap;
use crate::model::explain::{Explainer, Features};
use crate::model::{Planned, CLASSES};

/// Intervals of the integrated-gradients path: 16 kept the attributions' sum within a
/// few percent of the logit's change on trained presets (the page shows both numbers).
const PATH_STEPS: usize = 16;
/// Images per pass when the map's features are computed.
const FEATURE_BATCH: usize = 250;

/// What the views keep between calls, for the current model only.
#[derive(Default)]
pub(super) struct Views {
    explainer: Option<Explainer>,
    features: Option<Features>,
    map: DigitMap,
}

/// A convolution's filters: values [out, in_c, k, k], and the layer whose output they make.
#[derive(Serialize)]
struct Filters {
    /// `layer{i}.conv`, as `activations` names the layer's output.
    layer: String,
    name: String,
    out: usize,
    in_c: usize,
    k: usize,
    #[serde(with = "training::float32_array")]
    values: Vec<f32>,
}

/// Saliency of one image for one class, as the page draws it.
#[derive(Serialize)]
struct SaliencyView {
    class: usize,
    /// d logit[class] / d pixel [784].
    #[serde(with = "training::float32_array")]
    gradient: Vec<f32>,
    /// Integrated gradients from a blank page [784]: each pixel's share of the logit's change.
    #[serde(with = "training::float32_array")]
    integrated: Vec<f32>,
    logits: Vec<f32>,
    /// logit[class] of a blank page: the integrated gradients sum to about
    /// logits[class] - baseline_logit.
    baseline_logit: f32,
}

/// One picture of the map of the digits.
#[derive(Serialize)]
struct MapView {
    /// [x0, y0, x1, y1, ...] for the first `labels.length` test images.
    #[serde(with = "training::float32_array")]
    points: Vec<f32>,
    labels: Vec<u8>,
    /// Nearest-centroid accuracy in the 2-D map.
    centroid_accuracy: f64,
    /// The share of the features' variance along x and y.
    explained: [f64; 2],
    /// The penultimate layer: `layer{i}.{kind}` (or "input"), and its width.
    layer: String,
    width: usize,
}

#[wasm_bindgen]
impl Session {
    /// What each layer of the current model sees of one 28x28 image (values 0..1): {layers:
    /// [{name: "layer{i}.{kind}", kind, shape: [c, h, w], values: Float32Array}], probs}, on
    /// the model's engine (the batch-1 predictor the guesses use). The engine call the
    /// page's views of the network are drawn from.
    pub async fn activations(&self, image: Vec<f32>) -> Result<JsValue, JsValue> {
        let (pending, layers) = self.with(|s| {
            let (net, predictor) = s.net_and_predictor().ok_or_else(|| state("no model loaded"))?;
            let layers = net.layers().to_vec();
            Ok::<_, JsValue>((predictor.submit_activations(net, &image), layers))
        })?;
        let a = pending.await.map_err(js)?;
        #[derive(Serialize)]
        struct Layer {
            name: String,
            kind: &'static str,
            shape: [usize; 3],
            #[serde(with = "training::float32_array")]
            values: Vec<f32>,
        }
        #[derive(Serialize)]
        struct Seen {
            layers: Vec<Layer>,
            probs: Vec<f32>,
        }
        let layers = layers
            .iter()
            .zip(a.layers)
            .enumerate()
            .map(|(i, (l, values))| {
                let (c, h, w) = l.output();
                Layer { name: format!("layer{i}.{}", l.kind()), kind: l.kind(), shape: [c, h, w], values }
            })
            .collect();
        typed(&Seen { layers, probs: a.probs })
    }

    /// Every convolution's filters, in the network's order: [{layer: "layer{i}.conv", name,
    /// out, in_c, k, values: Float32Array [out, in_c, k, k]}], each beside the activation
    /// it makes.
    pub async fn filters(&self) -> Result<JsValue, JsValue> {
        self.refresh_copy().await?;
        let filters = self.with(|s| {
            let copy = s.copy.as_ref().ok_or_else(|| state("no model loaded"))?;
            let weight = |name: &str| {
                copy.tensors.iter().find(|(t, _)| t.name == format!("{name}.weight")).map(|(_, v)| v.clone()).unwrap_or_default()
            };
            Ok::<_, JsValue>(
                copy.layers
                    .iter()
                    .enumerate()
                    .filter_map(|(i, l)| match l {
                        Planned::Conv { name, input, out_c, kernel, .. } => Some(Filters {
                            layer: format!("layer{i}.conv"),
                            name: name.clone(),
                            out: *out_c,
                            in_c: input.0,
                            k: *kernel,
                            values: weight(name),
                        }),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
        })?;
        typed(&filters)
    }

    /// Why the current model gives (or does not give) `class` for one 28x28 image (values
    /// 0..1): {class, gradient: Float32Array [784], integrated: Float32Array [784],
    /// logits, baseline_logit}, on the model's engine.
    pub async fn saliency(&self, image: Vec<f32>, class: usize) -> Result<JsValue, JsValue> {
        if class >= CLASSES {
            return Err(request(&format!("no class {class} (0..9)")));
        }
        let pending = self.with(|s| {
            let (net, views) = s.net_and_views()?;
            if views.explainer.is_none() {
                views.explainer = Some(Explainer::new(net, PATH_STEPS).map_err(js)?);
            }
            let explainer = views.explainer.as_mut().expect("made above");
            Ok::<_, JsValue>(explainer.submit(net, &image, class))
        })?;
        let sal = pending.await.map_err(js)?;
        typed(&SaliencyView {
            class: sal.class,
            gradient: sal.gradient,
            integrated: sal.integrated,
            logits: sal.logits,
            baseline_logit: sal.baseline_logit,
        })
    }

    /// The penultimate layer's features [count, width] of test images `from..from + count`:
    /// the map of the digits is made of them, computed a few hundred images per call so
    /// the page stays responsive between calls (2,000 images of `fast` take about 0.9 s
    /// in one call on the CPU engine).
    pub async fn map_features(&self, from: usize, count: usize) -> Result<Vec<f32>, JsValue> {
        let pending = self.with(|s| {
            let data = s.data()?;
            if from + count > data.test.len() || count == 0 {
                return Err(request(&format!("test images {from}..{}: there are {}", from + count, data.test.len())));
            }
            let images = pixels_to_input(&data.test.images.pixels[from * 784..(from + count) * 784]);
            let (net, views) = s.net_and_views()?;
            if views.features.is_none() {
                views.features = Some(Features::new(net, FEATURE_BATCH).map_err(js)?);
            }
            Ok(views.features.as_mut().expect("made above").submit(net, &images))
        })?;
        pending.await.map_err(js)
    }

    /// Re-projects the map of the digits from the features of the first n test images
    /// (`map_features`, in order): PCA to 2-D, turned onto the last picture so it does not
    /// flip. Resolves to {points: Float32Array [2n], labels, centroid_accuracy, explained:
    /// [x, y], layer, width}.
    pub fn map_fit(&self, features: Vec<f32>, n: usize) -> Result<JsValue, JsValue> {
        self.with(|s| {
            let data = s.data()?;
            if n == 0 || n > data.test.len() || !features.len().is_multiple_of(n) {
                return Err(request(&format!("{} feature values are not a whole number per image for {n} test images", features.len())));
            }
            let labels = data.test.labels[..n].to_vec();
            let net = s.net().ok_or_else(|| state("no model loaded"))?;
            let layers = net.layers().to_vec();
            let width = Features::width(net);
            if features.len() != n * width {
                return Err(request(&format!("{} feature values: this network's penultimate layer has {width} per image", features.len())));
            }
            if let Some(i) = features.iter().position(|v| !v.is_finite()) {
                let message =
                    format!("the network's features hold {} (value {i}): it has diverged, and the map cannot be drawn", features[i]);
                return Err(super::error::error(super::error::Kind::Diverged, &message));
            }
            let layer = match layers.len().checked_sub(2) {
                Some(i) => format!("layer{i}.{}", layers[i].kind()),
                None => "input".into(),
            };
            let frame = s.views.map.update(&features, width, &labels);
            typed(&MapView {
                points: frame.points.iter().flatten().copied().collect(),
                labels,
                centroid_accuracy: frame.centroid_accuracy,
                explained: frame.explained,
                layer,
                width,
            })
        })
    }

    /// Where one image's penultimate features (as `activations` gives them) fall on the
    /// last map, or null before the first map (or for another network's features).
    pub fn map_project(&self, features: Vec<f32>) -> Option<Vec<f32>> {
        self.with(|s| s.views.map.project(&features).map(|p| p.to_vec()))
    }
}
