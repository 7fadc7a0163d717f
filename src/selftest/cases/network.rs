//! Whole networks: every preset's eval-mode logits on the engine against the reference
//! network, with every tensor random (running statistics included). On the GPU this runs
//! at the adapter's binding alignment and at the 256 bytes browsers use, which checks how
//! the model lays its tensors out.

use crate::model::{Spec, PRESETS};
use crate::selftest::check::{Report, Rng, NETWORK_TOLERANCE};
use crate::selftest::engine::{err, CpuEngine, OpEngine, Widen};
#[cfg(feature = "gpu")]
use crate::selftest::engine_gpu::GpuEngine;

/// A whole network on each engine, as the suite runs it.
#[allow(async_fn_in_trait)]
pub trait Op {
    /// Every layer's output (eval mode) for `images`, each first filled with NaN.
    async fn network_activations(&self, spec: &Spec, values: &[Vec<f32>], images: &[f32]) -> Result<Vec<Vec<f32>>, String>;
}

impl Op for CpuEngine {
    async fn network_activations(&self, spec: &Spec, values: &[Vec<f32>], images: &[f32]) -> Result<Vec<Vec<f32>>, String> {
        let mut model = crate::model::CpuModel::new(spec, 1).map_err(err)?;
        model.write_tensors(values);
        let mut graph = crate::model::CpuGraph::new(&model, images.len() / 784, false).map_err(err)?;
        graph.poison();
        graph.input_mut().0.copy_from_slice(images);
        graph.forward(&mut model);
        Ok(graph.activations().to_vec())
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn network_activations(&self, spec: &Spec, values: &[Vec<f32>], images: &[f32]) -> Result<Vec<Vec<f32>>, String> {
        let g = &self.gpu;
        let mut model = crate::model::GpuModel::new(g, spec, 1).map_err(err)?;
        model.kernels.forced_conv = self.kernel.or(model.kernels.forced_conv);
        model.write_tensors(values);
        let graph = crate::model::Graph::new(&model, images.len() / 784, None).map_err(err)?;
        for v in &graph.activations {
            v.write(g, &vec![f32::NAN; v.len]);
        }
        graph.predict(g, images).await.map_err(err)?;
        let mut out = Vec::new();
        for v in &graph.activations {
            out.push(v.read::<f32>(g).await.map_err(err)?);
        }
        Ok(out)
    }
}

/// A preset's network with every tensor random (running statistics included), and images.
struct Random {
    layers: Vec<crate::model::Planned>,
    values: Vec<Vec<f32>>,
    named: Vec<(crate::model::Tensor, Vec<f32>)>,
    images: Vec<f32>,
}

fn random_network(spec: &Spec, batch: usize, rng: &mut Rng) -> Result<Random, String> {
    let layers = crate::model::plan(spec).map_err(|e| e.to_string())?;
    let (tensors, _, _) = crate::model::layout(&layers, 1);
    let values: Vec<Vec<f32>> = tensors
        .iter()
        .map(|t| match t.name.rsplit('.').next() {
            Some("running_var") => (0..t.len).map(|_| 0.5 + rng.uniform()).collect(),
            _ => rng.vec(t.len).iter().map(|v| v * 0.3).collect(),
        })
        .collect();
    let named = tensors.into_iter().zip(values.iter().cloned()).collect();
    let images = (0..batch * 784).map(|_| rng.uniform()).collect();
    Ok(Random { layers, values, named, images })
}

pub async fn every_preset_network_matches_reference<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("every preset's network");
    let batch = 2;
    for (e, _) in engine.variants(Widen::Alignments, 0) {
        for name in PRESETS {
            let spec = Spec::preset(name).ok_or("no preset")?;
            let Random { layers, values, named, images } = random_network(&spec, batch, rng)?;
            let (logits, layout) = e.network_logits(&spec, &values, &images).await?;
            let reference = crate::model::reference::forward(&layers, &named, batch, &images);
            rep.compare_within(&format!("{name}, {layout}"), &logits, &reference, NETWORK_TOLERANCE)?;
            rep.shapes.push(format!("{name} ({layout})"));
        }
    }
    Ok(rep)
}

/// Every layer's output of every preset's network, on the engine against the reference
/// network's intermediates (what the page's views of each layer draw), outputs poisoned
/// with NaN first.
pub async fn every_preset_networks_activations_match_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("every preset's activations");
    let batch = 2;
    for name in PRESETS {
        let spec = Spec::preset(name).ok_or("no preset")?;
        let Random { layers, values, named, images } = random_network(&spec, batch, rng)?;
        let got = engine.network_activations(&spec, &values, &images).await?;
        let want = crate::model::reference::forward_all(&layers, &named, batch, &images);
        if got.len() != want.len() {
            return Err(format!("{name}: {} layer outputs, the network has {}", got.len(), want.len()));
        }
        for (i, ((g, w), layer)) in got.iter().zip(&want).zip(&layers).enumerate() {
            rep.compare_within(&format!("{name} layer{i}.{}", layer.kind()), g, w, NETWORK_TOLERANCE)?;
        }
        rep.shapes.push(format!("{name} ({} layers)", layers.len()));
    }
    Ok(rep)
}
