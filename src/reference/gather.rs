//! Batch gathering on the CPU: the ground truth for shaders/gather.wgsl.

use crate::desc::gather::GatherShape;

/// (x, labels) of the batch starting at `cursor` in `order`.
pub fn gather_batch(s: &GatherShape, images: &[u8], all_labels: &[u32], order: &[u32], cursor: usize) -> (Vec<f32>, Vec<u32>) {
    let mut x = Vec::with_capacity(s.batch * s.pixels);
    let mut labels = Vec::with_capacity(s.batch);
    for b in 0..s.batch {
        let image = order[(cursor + b) % s.count] as usize;
        x.extend(images[image * s.pixels..(image + 1) * s.pixels].iter().map(|&v| v as f32 * s.scale + s.shift));
        labels.push(all_labels[image]);
    }
    (x, labels)
}
