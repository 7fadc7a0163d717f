//! The GPU's Winograd convolutions over a batch split in chunks of images (as the
//! 1,000-image prediction runs): the engine suite's batches fit one chunk, so here the
//! adapter's binding limit is lowered until pytorch-cnn's conv2 at 5 images runs in 3
//! chunks (2, 2, 1 images), forward and input gradient, against the f64 reference.
#![cfg(all(not(target_arch = "wasm32"), feature = "gpu"))]

use wgpu_mnist::desc::conv2d::Conv2dShape;
use wgpu_mnist::ops::choice::Kernel;
use wgpu_mnist::ops::conv2d::{conv2d_backward_input, conv2d_forward};
use wgpu_mnist::ops::{run, View};
use wgpu_mnist::reference::conv2d as reference;
use wgpu_mnist::Gpu;

/// Largest difference over the largest reference value; NaN anywhere is infinite.
fn error(got: &[f32], want: &[f32]) -> f64 {
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    got.iter().zip(want).fold(0f64, |m, (g, w)| if g.is_finite() { m.max((g - w).abs() as f64 / scale) } else { f64::INFINITY })
}

#[test]
fn winograd_in_chunks_of_images_matches_the_reference() {
    let mut gpu = pollster::block_on(Gpu::new()).expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)");
    let s = Conv2dShape { batch: 5, in_c: 16, in_h: 14, in_w: 14, out_c: 32, k_h: 5, k_w: 5, stride: 1, pad_h: 2, pad_w: 2 };
    // V and M of one image: 36 products x 32 channels x 49 tiles; 2.5 images' worth.
    gpu.limits.max_storage_buffer_binding_size = 36 * 32 * 49 * 5 / 2 * 4;
    let mut seed = 7u32;
    let mut rand = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    };
    let (x, w, b, dy) = (rand(s.input_len()), rand(s.weight_len()), rand(s.out_c), rand(s.output_len()));
    let up = |v: &[f32]| View::from_slice(&gpu, "t", v).unwrap();
    let (xv, wv, bv, dyv) = (up(&x), up(&w), up(&b), up(&dy));
    let (y, dx) = (up(&vec![f32::NAN; s.output_len()]), up(&vec![f32::NAN; s.input_len()]));
    let mut ds = conv2d_forward(&gpu, &s, &xv, &wv, &bv, &y, true, Kernel::Winograd).unwrap();
    let forward_passes = ds.len();
    ds.extend(conv2d_backward_input(&gpu, &s, &dyv, &wv, &dx, Kernel::Winograd).unwrap());
    // The weights' transform, then 3 passes per chunk.
    assert_eq!(forward_passes, 1 + 3 * 3, "3 chunks expected");
    assert_eq!(ds.len(), 2 * (1 + 3 * 3));
    run(&gpu, &ds.iter().collect::<Vec<_>>());
    let y: Vec<f32> = pollster::block_on(y.read(&gpu)).unwrap();
    let dx: Vec<f32> = pollster::block_on(dx.read(&gpu)).unwrap();
    let fwd = error(&y, &reference::conv2d_forward(&s, &x, &w, &b, true));
    let bwd = error(&dx, &reference::conv2d_backward_input(&s, &dy, &w));
    assert!(fwd < 1e-4 && bwd < 1e-4, "forward {fwd:.2e}, input gradient {bwd:.2e}");
}
