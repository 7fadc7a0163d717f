//! Whole networks: every preset's eval-mode logits on the engine against the reference
//! network, with every tensor random (running statistics included). On the GPU this runs
//! at the adapter's binding alignment and at the 256 bytes browsers use, which checks how
//! the model lays its tensors out.

use crate::model::{Spec, PRESETS};
use crate::selftest::check::{Report, Rng, NETWORK_TOLERANCE};
use crate::selftest::engine::{OpEngine, Widen};

pub async fn every_preset_network_matches_reference<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("every preset's network");
    let batch = 2;
    for (e, _) in engine.variants(Widen::Alignments, 0) {
        for name in PRESETS {
            let spec = Spec::preset(name).ok_or("no preset")?;
            let layers = crate::model::plan(&spec).map_err(|e| e.to_string())?;
            let (tensors, _, _) = crate::model::layout(&layers, 1);
            let values: Vec<Vec<f32>> = tensors
                .iter()
                .map(|t| match t.name.rsplit('.').next() {
                    Some("running_var") => (0..t.len).map(|_| 0.5 + rng.uniform()).collect(),
                    _ => rng.vec(t.len).iter().map(|v| v * 0.3).collect(),
                })
                .collect();
            let named: Vec<_> = tensors.iter().cloned().zip(values.iter().cloned()).collect();
            let images: Vec<f32> = (0..batch * 784).map(|_| rng.uniform()).collect();
            let (logits, layout) = e.network_logits(&spec, &values, &images).await?;
            let reference = crate::model::reference::forward(&layers, &named, batch, &images);
            rep.compare_within(&format!("{name}, {layout}"), &logits, &reference, NETWORK_TOLERANCE)?;
            rep.shapes.push(format!("{name} ({layout})"));
        }
    }
    Ok(rep)
}
