//! conv2d: forward and all three gradients against the reference, and against finite
//! differences.

use crate::desc::conv2d::Conv2dShape;
use crate::reference as cpu;
use crate::selftest::check::{check_layer_fd, project, Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};
use crate::selftest::engine::{CpuEngine, err, nan};
#[cfg(feature = "gpu")]
use crate::selftest::engine_gpu::{GpuEngine, poisoned, run_and_read, upload};
#[cfg(feature = "gpu")]
use crate::ops;
#[cfg(feature = "gpu")]
use crate::ops::choice::Pass;

/// The op on each engine, as the suite runs it: host inputs in, outputs (poisoned with
/// NaN before the op runs) out.
#[allow(async_fn_in_trait, clippy::too_many_arguments)]
pub trait Op {
    /// (y, dx, dw, db) of a convolution with output gradient `dy`.
    async fn conv2d(&self, s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String>;
}

impl Op for CpuEngine {
    async fn conv2d(&self, s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        use crate::cpu::conv2d::Algo;
        // A direct algorithm asked of a shape it does not compute (stride 2) runs im2col.
        let algo = match self.conv {
            None => Algo::for_shape(s),
            Some(a) if a.computes(s) => a,
            Some(_) => Algo::Im2colGemm,
        };
        let (mut y, mut dx, mut dw, mut db) = (nan(s.output_len()), nan(s.input_len()), nan(s.weight_len()), nan(s.out_c));
        crate::cpu::conv2d::conv2d_forward_by(algo, s, x, w, b, &mut y, relu).map_err(err)?;
        crate::cpu::conv2d::conv2d_backward_input_by(algo, s, dy, w, &mut dx);
        crate::cpu::conv2d::conv2d_backward_weights_by(algo, s, x, dy, &mut dw);
        crate::cpu::conv2d::conv2d_backward_bias(s, dy, &mut db);
        Ok([y, dx, dw, db])
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn conv2d(&self, s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        let g = &self.gpu;
        let (xv, wv, bv, dyv) = (upload(g, x)?, upload(g, w)?, upload(g, b)?, upload(g, dy)?);
        let (y, dx, dw, db) =
            (poisoned(g, s.output_len())?, poisoned(g, s.input_len())?, poisoned(g, s.weight_len())?, poisoned(g, s.out_c)?);
        let mut ds = ops::conv2d::conv2d_forward(g, s, &xv, &wv, &bv, &y, relu, self.conv_kernel(Pass::ConvForward, s)).map_err(err)?;
        ds.extend(ops::conv2d::conv2d_backward_input(g, s, &dyv, &wv, &dx, self.conv_kernel(Pass::ConvBackwardInput, s)).map_err(err)?);
        ds.push(ops::conv2d::conv2d_backward_bias(g, s, &dyv, &db).map_err(err)?);
        let dw_kernel = self.conv_kernel(Pass::ConvBackwardWeights, s);
        let dw_passes = ops::conv2d::conv2d_backward_weights(g, s, &xv, &dyv, &dw, dw_kernel).map_err(err)?;
        let out = run_and_read(g, &ds.iter().chain(dw_passes.iter()).collect::<Vec<_>>(), &[&y, &dx, &dw, &db]).await?;
        Ok(out.try_into().expect("four outputs"))
    }
}

#[allow(clippy::too_many_arguments)]
fn conv(
    batch: usize,
    in_c: usize,
    in_h: usize,
    in_w: usize,
    out_c: usize,
    k_h: usize,
    k_w: usize,
    stride: usize,
    pad_h: usize,
    pad_w: usize,
) -> Conv2dShape {
    Conv2dShape { batch, in_c, in_h, in_w, out_c, k_h, k_w, stride, pad_h, pad_w }
}

fn describe(s: &Conv2dShape) -> String {
    format!(
        "x[{},{},{},{}] w[{},{},{},{}] s{} p{}x{}",
        s.batch, s.in_c, s.in_h, s.in_w, s.out_c, s.in_c, s.k_h, s.k_w, s.stride, s.pad_h, s.pad_w
    )
}

pub async fn conv2d_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("conv2d");
    let shapes = [
        conv(1, 1, 28, 28, 16, 5, 5, 1, 0, 0),  // the first layer of most presets
        conv(3, 3, 13, 11, 7, 3, 5, 1, 1, 2),   // rectangular kernel, odd sizes
        conv(2, 5, 9, 9, 6, 7, 7, 1, 3, 3),     // 7x7 "same"
        conv(2, 6, 15, 17, 5, 4, 4, 2, 1, 1),   // stride 2
        conv(1, 256, 5, 5, 3, 3, 3, 1, 1, 1),   // 256 input channels
        conv(1, 3, 4, 4, 256, 1, 1, 1, 0, 0),   // 256 output channels, 1x1
        conv(2, 64, 6, 6, 96, 3, 3, 1, 1, 1),   // 55,296 weights: many workgroups
        conv(4, 1, 40, 40, 8, 5, 5, 1, 2, 2),   // large planes
        conv(2, 48, 7, 7, 64, 2, 2, 1, 1, 1),   // keras-bn's 2x2 after ZeroPad(1)
        conv(3, 32, 14, 14, 17, 5, 5, 2, 2, 2), // odd channel count, stride 2, same
        conv(5, 16, 14, 14, 32, 5, 5, 1, 2, 2), // pytorch-cnn's conv2, an odd batch
        conv(37, 2, 6, 5, 3, 3, 2, 1, 0, 1),    // many images: the CPU engine's groups of 16, a ragged last one
        conv(3, 9, 11, 8, 10, 3, 3, 1, 0, 2),   // odd outputs (9x10) and uneven padding: Winograd's cropped 2x2 blocks
    ];
    for (row, s) in shapes.iter().enumerate() {
        for (e, variant) in engine.variants(Widen::ConvKernels, row) {
            let relu = row % 3 == 0;
            let (x, w, b, dy) = (rng.vec(s.input_len()), rng.vec(s.weight_len()), rng.vec(s.out_c), rng.vec(s.output_len()));
            let out = e.conv2d(s, &x, &w, &b, &dy, relu).await?;
            let what = format!("{} {variant}", describe(s));
            rep.compare(&format!("forward {what}"), &out[0], &cpu::conv2d::conv2d_forward(s, &x, &w, &b, relu))?;
            rep.compare(&format!("backward input {what}"), &out[1], &cpu::conv2d::conv2d_backward_input(s, &dy, &w))?;
            rep.compare(&format!("backward weights {what}"), &out[2], &cpu::conv2d::conv2d_backward_weights(s, &x, &dy))?;
            rep.compare(&format!("backward bias {what}"), &out[3], &cpu::conv2d::conv2d_backward_bias(s, &dy))?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}

pub async fn conv2d_backward_matches_finite_differences<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("conv2d backward (finite differences)");
    for s in [conv(2, 3, 7, 6, 4, 3, 2, 2, 1, 1), conv(1, 2, 5, 5, 3, 5, 5, 1, 2, 2)] {
        for (e, variant) in engine.variants(Widen::ConvKernels, 0) {
            let (x, w, b, r) = (rng.vec(s.input_len()), rng.vec(s.weight_len()), rng.vec(s.out_c), rng.vec(s.output_len()));
            let out = e.conv2d(&s, &x, &w, &b, &r, false).await?;
            let engine_grads = [out[1].clone(), out[2].clone(), out[3].clone()];
            let ref_grads = [
                cpu::conv2d::conv2d_backward_input(&s, &r, &w),
                cpu::conv2d::conv2d_backward_weights(&s, &x, &r),
                cpu::conv2d::conv2d_backward_bias(&s, &r),
            ];
            let f = |x: &[f32], w: &[f32], b: &[f32]| project(&cpu::conv2d::conv2d_forward(&s, x, w, b, false), &r);
            check_layer_fd(&mut rep, rng, 40, [&x, &w, &b], &ref_grads, &engine_grads, f)?;
            rep.compare(&format!("{} vs reference dx", e.name()), &engine_grads[0], &ref_grads[0])?;
            rep.shapes.push(format!("{} {variant}", describe(&s)));
        }
    }
    Ok(rep)
}
