//! Batch gathering on the CPU engine (shaders/gather.wgsl; reference: `reference::gather`).

use crate::desc::gather::GatherShape;

/// x and labels of the batch starting at `cursor` in `order`.
pub fn gather_batch(s: &GatherShape, images: &[u8], all_labels: &[u32], order: &[u32], cursor: usize, x: &mut [f32], labels: &mut [u32]) {
    for (b, (xs, label)) in x.chunks_mut(s.pixels).zip(labels.iter_mut()).enumerate().take(s.batch) {
        let image = order[(cursor + b) % s.count] as usize;
        let src = &images[image * s.pixels..(image + 1) * s.pixels];
        xs.iter_mut().zip(src).for_each(|(x, &p)| *x = p as f32 * s.scale + s.shift);
        *label = all_labels[image];
    }
}
