//! Why a network gives its answer, on either engine: saliency (the gradient of one
//! class's logit with respect to the input pixels, and integrated gradients from a blank
//! page) and the penultimate layer's features (the page's map of the digits).

use std::future::Future;

use super::exec::Deferred;
use super::exec_cpu::CPU_PREDICT_BATCH;
use super::{CpuGraph, Net, CLASSES};
use crate::error::Error;

const PIXELS: usize = 784;

/// Why one image got (or did not get) a class.
#[derive(Clone, Debug, Default)]
pub struct Saliency {
    pub class: usize,
    /// d logit[class] / d input pixel at the image [784] (input values 0..1).
    pub gradient: Vec<f32>,
    /// Integrated gradients [784] along the straight path from a blank page (all zeros)
    /// to the image: each pixel's share of the logit's change; they sum to about
    /// `logits[class] - baseline_logit` (closer with more steps).
    pub integrated: Vec<f32>,
    /// The image's logits [10].
    pub logits: Vec<f32>,
    /// logit[class] of the blank page.
    pub baseline_logit: f32,
}

/// Saliency of one image at a time: an eval graph of `steps + 1` images (the path from
/// a blank page to the image) whose backward pass runs down to the input.
pub struct Explainer {
    steps: usize,
    inner: Inner,
}

// One per page or command, never in a collection: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Inner {
    #[cfg(feature = "gpu")]
    Gpu(super::Graph),
    Cpu(CpuGraph),
}

impl Explainer {
    /// `steps` intervals of the integrated-gradients path (16 keeps the sum within a few
    /// percent of the logit change on the presets; see `Saliency::integrated`).
    pub fn new(net: &Net, steps: usize) -> Result<Explainer, Error> {
        let steps = steps.max(1);
        let inner = match net {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => Inner::Gpu(super::Graph::explainer(m, steps + 1)?),
            Net::Cpu(m) => Inner::Cpu(CpuGraph::new(m, steps + 1, false)?),
        };
        Ok(Explainer { steps, inner })
    }

    /// Saliency of `image` (784 values, 0..1) for `class`; the CPU engine computes it at
    /// once, the GPU queues it. The future borrows nothing.
    pub fn submit(&mut self, net: &mut Net, image: &[f32], class: usize) -> impl Future<Output = Result<Saliency, Error>> + 'static {
        let steps = self.steps;
        if image.len() != PIXELS || class >= CLASSES {
            let message = format!("saliency takes one 28x28 image (784 values, not {}) and a class 0..9", image.len());
            return Deferred::Ready(Some(Err(Error::Shape(message))));
        }
        // Row k is the image scaled by k / steps: the blank page first, the image last.
        let path: Vec<f32> = (0..=steps).flat_map(|k| image.iter().map(move |&v| v * k as f32 / steps as f32)).collect();
        let result = match (&mut self.inner, net) {
            #[cfg(feature = "gpu")]
            (Inner::Gpu(graph), Net::Gpu(m)) => {
                let (seed, dinput) = graph.saliency.clone().expect("an explainer graph has a saliency pass");
                let one_hot: Vec<f32> = (0..(steps + 1) * CLASSES).map(|i| if i % CLASSES == class { 1.0 } else { 0.0 }).collect();
                graph.input.write(&m.gpu, &path);
                seed.write(&m.gpu, &one_hot);
                m.gpu.run_pass(|pass| graph.record_saliency(pass));
                let (gpu, logits, image) = (m.gpu.clone(), graph.logits.clone(), image.to_vec());
                return Deferred::Gpu(Box::pin(async move {
                    let (grads, logits) = (dinput.read::<f32>(&gpu).await?, logits.read::<f32>(&gpu).await?);
                    Ok(combine(steps, &image, &grads, &logits, class))
                }));
            }
            (Inner::Cpu(graph), Net::Cpu(m)) => {
                graph.input_mut().0.copy_from_slice(&path);
                graph.input_gradients(m, &vec![class as u32; steps + 1]).map(|(grads, logits)| combine(steps, image, grads, logits, class))
            }
            #[cfg(feature = "gpu")]
            _ => Err(Error::Shape("an explainer runs on the engine it was made for".into())),
        };
        Deferred::Ready(Some(result))
    }
}

/// Saliency from the input gradients of the path's rows (`steps + 1` of them) and their
/// logits: the last row's gradient, and integrated gradients by the trapezoid rule.
fn combine(steps: usize, image: &[f32], grads: &[f32], logits: &[f32], class: usize) -> Saliency {
    let rows: Vec<&[f32]> = grads.chunks(PIXELS).collect();
    let integrated = (0..PIXELS)
        .map(|i| {
            let sum: f64 = rows.iter().enumerate().map(|(k, g)| g[i] as f64 * if k == 0 || k == steps { 0.5 } else { 1.0 }).sum();
            (image[i] as f64 * sum / steps as f64) as f32
        })
        .collect();
    Saliency {
        class,
        gradient: rows[steps].to_vec(),
        integrated,
        logits: logits[steps * CLASSES..][..CLASSES].to_vec(),
        baseline_logit: logits[class],
    }
}

/// The penultimate layer's output (what the last layer separates the classes by) for many
/// images, `batch` at a time.
pub struct Features {
    inner: FeatureInner,
    batch: usize,
}

#[allow(clippy::large_enum_variant)]
enum FeatureInner {
    #[cfg(feature = "gpu")]
    Gpu(std::rc::Rc<super::Graph>),
    Cpu(CpuGraph),
}

impl Features {
    pub fn new(net: &Net, batch: usize) -> Result<Features, Error> {
        let inner = match net {
            #[cfg(feature = "gpu")]
            Net::Gpu(m) => FeatureInner::Gpu(std::rc::Rc::new(super::Graph::new(m, batch, None)?)),
            Net::Cpu(m) => FeatureInner::Cpu(CpuGraph::new(m, batch.min(CPU_PREDICT_BATCH), false)?),
        };
        let batch = match &inner {
            #[cfg(feature = "gpu")]
            FeatureInner::Gpu(g) => g.batch,
            FeatureInner::Cpu(g) => g.batch,
        };
        Ok(Features { inner, batch })
    }

    /// Values per image: the penultimate layer's output size (the image's 784 for a
    /// network of one layer).
    pub fn width(net: &Net) -> usize {
        let layers = net.layers();
        layers.len().checked_sub(2).map_or(PIXELS, |i| {
            let (c, h, w) = layers[i].output();
            c * h * w
        })
    }

    /// Features [n, width] of `images` (normalized, [n, 784]). The future borrows nothing.
    pub fn submit(&mut self, net: &mut Net, images: &[f32]) -> impl Future<Output = Result<Vec<f32>, Error>> + 'static {
        let (width, depth) = (Features::width(net), net.layers().len());
        let batch = self.batch;
        if !images.len().is_multiple_of(PIXELS) {
            return Deferred::Ready(Some(Err(Error::Shape(format!("{} values is not a whole number of 28x28 images", images.len())))));
        }
        let n = images.len() / PIXELS;
        // Whole batches: the last one padded with blank images, their features dropped.
        let chunks: Vec<Vec<f32>> = images
            .chunks(batch * PIXELS)
            .map(|c| {
                let mut c = c.to_vec();
                c.resize(batch * PIXELS, 0.0);
                c
            })
            .collect();
        let result = match (&mut self.inner, net) {
            #[cfg(feature = "gpu")]
            (FeatureInner::Gpu(graph), Net::Gpu(m)) => {
                let (graph, gpu) = (graph.clone(), m.gpu.clone());
                return Deferred::Gpu(Box::pin(async move {
                    let mut out = Vec::with_capacity(n * width);
                    for chunk in &chunks {
                        graph.input.write(&gpu, chunk);
                        gpu.run_pass(|pass| graph.record_predict(pass));
                        let view = if depth < 2 { &graph.input } else { &graph.activations[depth - 2] };
                        out.extend(view.read::<f32>(&gpu).await?);
                    }
                    out.truncate(n * width);
                    Ok(out)
                }));
            }
            (FeatureInner::Cpu(graph), Net::Cpu(m)) => {
                let mut out = Vec::with_capacity(n * width);
                for chunk in &chunks {
                    graph.input_mut().0.copy_from_slice(chunk);
                    graph.forward(m);
                    out.extend_from_slice(if depth < 2 { chunk } else { &graph.activations()[depth - 2] });
                }
                out.truncate(n * width);
                Ok(out)
            }
            #[cfg(feature = "gpu")]
            _ => Err(Error::Shape("features run on the engine they were made for".into())),
        };
        Deferred::Ready(Some(result))
    }
}
