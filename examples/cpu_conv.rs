//! Times each CPU convolution algorithm this machine has (`cpu::conv2d::Algo::all`) on
//! the presets' layers, and checks each against im2col: `cargo run --release --example
//! cpu_conv [-- NAME]` (RAYON_NUM_THREADS=1 for one core; NAME keeps the layers whose
//! name contains it).
use std::time::Instant;
use wgpu_mnist::cpu::conv2d::*;
use wgpu_mnist::desc::conv2d::Conv2dShape;
fn t<F: FnMut()>(mut f: F) -> f64 {
    f();
    let mut best = f64::MAX;
    for _ in 0..7 {
        let s = Instant::now();
        f();
        best = best.min(s.elapsed().as_secs_f64());
    }
    best * 1e3
}
fn main() {
    let only = std::env::args().nth(1).unwrap_or_default();
    for (name, s) in [
        ("pcnn conv2", Conv2dShape { batch: 64, in_c: 16, in_h: 14, in_w: 14, out_c: 32, k_h: 5, k_w: 5, stride: 1, pad_h: 2, pad_w: 2 }),
        ("pcnn conv1", Conv2dShape { batch: 64, in_c: 1, in_h: 28, in_w: 28, out_c: 16, k_h: 5, k_w: 5, stride: 1, pad_h: 2, pad_w: 2 }),
        ("fast conv2", Conv2dShape { batch: 256, in_c: 24, in_h: 12, in_w: 12, out_c: 32, k_h: 3, k_w: 3, stride: 1, pad_h: 0, pad_w: 0 }),
        ("fast conv1", Conv2dShape { batch: 256, in_c: 1, in_h: 28, in_w: 28, out_c: 24, k_h: 5, k_w: 5, stride: 1, pad_h: 0, pad_w: 0 }),
        (
            "keras-bn conv1",
            Conv2dShape { batch: 64, in_c: 1, in_h: 28, in_w: 28, out_c: 32, k_h: 3, k_w: 3, stride: 1, pad_h: 0, pad_w: 0 },
        ),
        (
            "keras-bn conv2",
            Conv2dShape { batch: 64, in_c: 32, in_h: 15, in_w: 15, out_c: 48, k_h: 3, k_w: 3, stride: 1, pad_h: 0, pad_w: 0 },
        ),
        ("keras-bn conv3", Conv2dShape { batch: 64, in_c: 48, in_h: 8, in_w: 8, out_c: 64, k_h: 2, k_w: 2, stride: 1, pad_h: 0, pad_w: 0 }),
        ("lenet conv2", Conv2dShape { batch: 64, in_c: 6, in_h: 12, in_w: 12, out_c: 16, k_h: 5, k_w: 5, stride: 1, pad_h: 0, pad_w: 0 }),
        (
            "mindspore conv2",
            Conv2dShape { batch: 64, in_c: 16, in_h: 12, in_w: 12, out_c: 32, k_h: 5, k_w: 5, stride: 1, pad_h: 0, pad_w: 0 },
        ),
        ("convnet conv1", Conv2dShape { batch: 64, in_c: 1, in_h: 28, in_w: 28, out_c: 32, k_h: 5, k_w: 5, stride: 1, pad_h: 0, pad_w: 0 }),
        (
            "convnet conv2",
            Conv2dShape { batch: 64, in_c: 32, in_h: 12, in_w: 12, out_c: 64, k_h: 5, k_w: 5, stride: 1, pad_h: 0, pad_w: 0 },
        ),
    ] {
        if !name.contains(&only) {
            continue;
        }
        let x: Vec<f32> = (0..s.input_len()).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let w: Vec<f32> = (0..s.weight_len()).map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let b = vec![0.1f32; s.out_c];
        let dyv: Vec<f32> = (0..s.output_len()).map(|i| ((i * 31) % 1000) as f32 / 1000.0 - 0.5).collect();
        println!("{name} (batch {}):            fwd      dx      dw   (ms)", s.batch);
        let mut base: Option<(Vec<f32>, Vec<f32>, Vec<f32>)> = None;
        for algo in Algo::all().into_iter().rev().filter(|a| a.computes(&s)) {
            let (mut y, mut dx, mut dw) = (vec![f32::NAN; s.output_len()], vec![f32::NAN; s.input_len()], vec![f32::NAN; s.weight_len()]);
            let a = t(|| conv2d_forward_by(algo, &s, &x, &w, &b, &mut y, true).unwrap());
            let bb = t(|| conv2d_backward_input_by(algo, &s, &dyv, &w, &mut dx));
            let c = t(|| conv2d_backward_weights_by(algo, &s, &x, &dyv, &mut dw));
            let err = |u: &[f32], v: &[f32]| {
                u.iter()
                    .zip(v)
                    .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                    .fold(0f32, |m, e| if e.is_nan() { f32::INFINITY } else { m.max(e) })
            };
            let e = base
                .as_ref()
                .map(|(y0, dx0, dw0)| format!("err {:.1e} {:.1e} {:.1e}", err(&y, y0), err(&dx, dx0), err(&dw, dw0)))
                .unwrap_or_default();
            println!("  {:16} {a:8.2} {bb:7.2} {c:7.2}  {e}", algo.name());
            if base.is_none() {
                base = Some((y, dx, dw));
            }
        }
    }
}
