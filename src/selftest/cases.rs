//! The cases: each GPU op against its CPU reference over a table of awkward shapes, and
//! each backward pass (reference and GPU) against finite differences.

use super::check::{fresh_seed, poisoned, project, run_and_read, upload, Report, Rng};
use crate::gpu::Gpu;
use crate::ops::batchnorm::{batchnorm_backward, batchnorm_forward, BatchNormShape};
use crate::ops::conv2d::{
    conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weights, conv2d_forward, Conv2dShape, ConvAlgorithm,
};
use crate::ops::dense::{
    dense_backward_bias, dense_backward_input, dense_backward_weights, dense_forward, matmul, DenseShape, MatmulShape,
};
use crate::ops::dropout::{dropout_backward, dropout_forward, DropoutConfig};
use crate::ops::gather::{gather_batch, GatherShape};
use crate::ops::maxpool::{maxpool_backward, maxpool_forward, PoolShape};
use crate::ops::optim::{optimizer_step, Optimizer};
use crate::ops::relu::{relu_backward, relu_forward};
use crate::ops::softmax_xent::{accumulate_metrics, softmax, softmax_xent};
use crate::ops::{run, View};
use crate::reference as cpu;

/// Every case, by name (the test runners make one test of each).
pub const CASES: &[&str] = &[
    "conv2d_matches_reference",
    "conv2d_backward_matches_finite_differences",
    "maxpool_matches_reference",
    "maxpool_backward_matches_finite_differences",
    "matmul_matches_reference",
    "dense_matches_reference",
    "dense_backward_matches_finite_differences",
    "relu_matches_reference",
    "relu_backward_matches_finite_differences",
    "dropout_matches_reference",
    "dropout_backward_matches_finite_differences",
    "batchnorm_matches_reference",
    "batchnorm_backward_matches_finite_differences",
    "softmax_xent_matches_reference",
    "softmax_xent_gradient_matches_finite_differences",
    "optimizers_match_reference_for_three_steps",
    "optimizers_match_hand_computed_values",
    "gather_matches_reference",
    "every_preset_network_matches_reference",
    "bad_shapes_are_errors",
];

/// Runs one case on fresh random inputs; the error names the seed that reproduces it.
pub async fn run_case(gpu: &Gpu, name: &str) -> Result<Report, String> {
    let seed = fresh_seed();
    let mut rng = Rng::new(seed);
    let r = &mut rng;
    let result = match name {
        "conv2d_matches_reference" => conv2d_matches_reference(gpu, r).await,
        "conv2d_backward_matches_finite_differences" => conv2d_backward_matches_finite_differences(gpu, r).await,
        "maxpool_matches_reference" => maxpool_matches_reference(gpu, r).await,
        "maxpool_backward_matches_finite_differences" => maxpool_backward_matches_finite_differences(gpu, r).await,
        "matmul_matches_reference" => matmul_matches_reference(gpu, r).await,
        "dense_matches_reference" => dense_matches_reference(gpu, r).await,
        "dense_backward_matches_finite_differences" => dense_backward_matches_finite_differences(gpu, r).await,
        "relu_matches_reference" => relu_matches_reference(gpu, r).await,
        "relu_backward_matches_finite_differences" => relu_backward_matches_finite_differences(gpu, r).await,
        "dropout_matches_reference" => dropout_matches_reference(gpu, r).await,
        "dropout_backward_matches_finite_differences" => dropout_backward_matches_finite_differences(gpu, r).await,
        "batchnorm_matches_reference" => batchnorm_matches_reference(gpu, r).await,
        "batchnorm_backward_matches_finite_differences" => batchnorm_backward_matches_finite_differences(gpu, r).await,
        "softmax_xent_matches_reference" => softmax_xent_matches_reference(gpu, r).await,
        "softmax_xent_gradient_matches_finite_differences" => softmax_xent_gradient_matches_finite_differences(gpu, r).await,
        "optimizers_match_reference_for_three_steps" => optimizers_match_reference_for_three_steps(gpu, r).await,
        "optimizers_match_hand_computed_values" => optimizers_match_hand_computed_values(),
        "gather_matches_reference" => gather_matches_reference(gpu, r).await,
        "every_preset_network_matches_reference" => every_preset_network_matches_reference(gpu, r).await,
        "bad_shapes_are_errors" => bad_shapes_are_errors(gpu),
        other => Err(format!("no case named {other}")),
    };
    result.map_err(|e| format!("{e} (seed {seed})"))
}

/// Every other table row runs with at most 3 workgroups along x, so each
/// kernel is also exercised on a 2-D grid with a ragged last row.
fn engine(gpu: &Gpu, row: usize) -> Gpu {
    let mut g = gpu.clone();
    if row % 2 == 1 {
        g.max_workgroups_per_dim = 3;
    }
    g
}

fn err(e: crate::Error) -> String {
    e.to_string()
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

fn describe_conv(s: &Conv2dShape) -> String {
    format!(
        "x[{},{},{},{}] w[{},{},{},{}] s{} p{}x{}",
        s.batch, s.in_c, s.in_h, s.in_w, s.out_c, s.in_c, s.k_h, s.k_w, s.stride, s.pad_h, s.pad_w
    )
}

async fn conv2d_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
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
    ];
    for (row, s) in shapes.iter().enumerate() {
        for algorithm in [ConvAlgorithm::Tiled, ConvAlgorithm::Direct] {
            let mut g = engine(gpu, row);
            g.conv_algorithm = algorithm;
            let g = &g;
            let relu = row % 3 == 0;
            let (x, w, b, dy) = (rng.vec(s.input_len()), rng.vec(s.weight_len()), rng.vec(s.out_c), rng.vec(s.output_len()));
            let (xv, wv, bv, dyv) = (upload(g, &x)?, upload(g, &w)?, upload(g, &b)?, upload(g, &dy)?);
            let (y, dx, dw, db) =
                (poisoned(g, s.output_len())?, poisoned(g, s.input_len())?, poisoned(g, s.weight_len())?, poisoned(g, s.out_c)?);
            let ds = [
                conv2d_forward(g, s, &xv, &wv, &bv, &y, relu).map_err(err)?,
                conv2d_backward_input(g, s, &dyv, &wv, &dx).map_err(err)?,
                conv2d_backward_bias(g, s, &dyv, &db).map_err(err)?,
            ];
            let dw_passes = conv2d_backward_weights(g, s, &xv, &dyv, &dw).map_err(err)?;
            let out = run_and_read(g, &ds.iter().chain(dw_passes.iter()).collect::<Vec<_>>(), &[&y, &dx, &dw, &db]).await?;
            let what = format!("{} {algorithm:?}", describe_conv(s));
            rep.compare(&format!("forward {what}"), &out[0], &cpu::conv2d::conv2d_forward(s, &x, &w, &b, relu))?;
            rep.compare(&format!("backward input {what}"), &out[1], &cpu::conv2d::conv2d_backward_input(s, &dy, &w))?;
            rep.compare(&format!("backward weights {what}"), &out[2], &cpu::conv2d::conv2d_backward_weights(s, &x, &dy))?;
            rep.compare(&format!("backward bias {what}"), &out[3], &cpu::conv2d::conv2d_backward_bias(s, &dy))?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}

async fn conv2d_backward_matches_finite_differences(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("conv2d backward (finite differences)");
    for (row, s) in [conv(2, 3, 7, 6, 4, 3, 2, 2, 1, 1), conv(1, 2, 5, 5, 3, 5, 5, 1, 2, 2)].into_iter().enumerate() {
        let mut g = gpu.clone();
        g.conv_algorithm = if row == 0 { ConvAlgorithm::Direct } else { ConvAlgorithm::Tiled };
        let gpu = &g;
        let (x, w, b, r) = (rng.vec(s.input_len()), rng.vec(s.weight_len()), rng.vec(s.out_c), rng.vec(s.output_len()));
        let (xv, wv, rv) = (upload(gpu, &x)?, upload(gpu, &w)?, upload(gpu, &r)?);
        let (dx, dw, db) = (poisoned(gpu, s.input_len())?, poisoned(gpu, s.weight_len())?, poisoned(gpu, s.out_c)?);
        let ds = [conv2d_backward_input(gpu, &s, &rv, &wv, &dx).map_err(err)?, conv2d_backward_bias(gpu, &s, &rv, &db).map_err(err)?];
        let dw_passes = conv2d_backward_weights(gpu, &s, &xv, &rv, &dw).map_err(err)?;
        let gpu_grads = run_and_read(gpu, &ds.iter().chain(dw_passes.iter()).collect::<Vec<_>>(), &[&dx, &dw, &db]).await?;
        let cpu_grads = [
            cpu::conv2d::conv2d_backward_input(&s, &r, &w),
            cpu::conv2d::conv2d_backward_weights(&s, &x, &r),
            cpu::conv2d::conv2d_backward_bias(&s, &r),
        ];
        let f = |x: &[f32], w: &[f32], b: &[f32]| project(&cpu::conv2d::conv2d_forward(&s, x, w, b, false), &r);
        for grads in [&cpu_grads[..], &gpu_grads[..]] {
            rep.check_fd("dx", &x, &grads[0], 1e-2, rng, 40, |_| false, |xp| f(xp, &w, &b))?;
            rep.check_fd("dw", &w, &grads[1], 1e-2, rng, 40, |_| false, |wp| f(&x, wp, &b))?;
            rep.check_fd("db", &b, &grads[2], 1e-2, rng, 40, |_| false, |bp| f(&x, &w, bp))?;
        }
        rep.compare("GPU vs reference dx", &gpu_grads[0], &cpu_grads[0])?;
        rep.shapes.push(describe_conv(&s));
    }
    Ok(rep)
}

async fn maxpool_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("maxpool");
    let shapes = [
        PoolShape { planes: 1, in_h: 28, in_w: 28 },
        PoolShape { planes: 3, in_h: 13, in_w: 13 },
        PoolShape { planes: 5, in_h: 7, in_w: 7 },
        PoolShape { planes: 2, in_h: 7, in_w: 6 },
        PoolShape { planes: 200, in_h: 24, in_w: 24 },
        PoolShape { planes: 7, in_h: 2, in_w: 3 },
    ];
    for (row, s) in shapes.iter().enumerate() {
        let g = &engine(gpu, row);
        // Even rows: values on a coarse grid, so windows tie and the tie rule is tested.
        let x: Vec<f32> = rng.vec(s.input_len()).into_iter().map(|v| if row % 2 == 0 { (v * 2.0).round() / 2.0 } else { v }).collect();
        let dy = rng.vec(s.output_len());
        let (xv, dyv) = (upload(g, &x)?, upload(g, &dy)?);
        let (y, arg, dx) = (poisoned(g, s.output_len())?, upload(g, &vec![u32::MAX; s.output_len()])?, poisoned(g, s.input_len())?);
        let (ref_y, ref_arg) = cpu::maxpool::maxpool_forward(s, &x);
        let fwd = maxpool_forward(g, s, &xv, &y, &arg).map_err(err)?;
        // The backward pass runs on the GPU's own argmax, checked exactly first.
        let bwd = maxpool_backward(g, s, &dyv, &arg, &dx).map_err(err)?;
        let out = run_and_read(g, &[&fwd, &bwd], &[&y, &dx]).await?;
        let gpu_arg: Vec<u32> = arg.read(g).await.map_err(err)?;
        let what = format!("[{}, {}, {}]", s.planes, s.in_h, s.in_w);
        rep.compare(&format!("forward {what}"), &out[0], &ref_y)?;
        rep.compare_exact(&format!("argmax {what}"), &gpu_arg, &ref_arg)?;
        rep.compare(&format!("backward {what}"), &out[1], &cpu::maxpool::maxpool_backward(s, &dy, &ref_arg))?;
        rep.shapes.push(what);
    }
    Ok(rep)
}

async fn maxpool_backward_matches_finite_differences(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("maxpool backward (finite differences)");
    let s = PoolShape { planes: 3, in_h: 5, in_w: 7 };
    // Distinct values 0.01 apart, so a 1e-3 nudge never changes a window's winner.
    let mut x: Vec<f32> = (0..s.input_len()).map(|i| i as f32 * 0.01).collect();
    for i in (1..x.len()).rev() {
        x.swap(i, rng.below(i + 1));
    }
    let r = rng.vec(s.output_len());
    let (ref_y, arg) = cpu::maxpool::maxpool_forward(&s, &x);
    let _ = ref_y;
    let (xv, rv) = (upload(gpu, &x)?, upload(gpu, &r)?);
    let (y, argv, dx) = (poisoned(gpu, s.output_len())?, upload(gpu, &vec![0u32; s.output_len()])?, poisoned(gpu, s.input_len())?);
    let ds = [maxpool_forward(gpu, &s, &xv, &y, &argv).map_err(err)?, maxpool_backward(gpu, &s, &rv, &argv, &dx).map_err(err)?];
    let out = run_and_read(gpu, &[&ds[0], &ds[1]], &[&dx]).await?;
    let f = |xp: &[f32]| project(&cpu::maxpool::maxpool_forward(&s, xp).0, &r);
    rep.check_fd("reference dx", &x, &cpu::maxpool::maxpool_backward(&s, &r, &arg), 1e-3, rng, 200, |_| false, f)?;
    rep.check_fd("GPU dx", &x, &out[0], 1e-3, rng, 200, |_| false, f)?;
    rep.shapes.push(format!("[{}, {}, {}]", s.planes, s.in_h, s.in_w));
    Ok(rep)
}

async fn matmul_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("matmul");
    let sizes = [(1, 1, 1), (1, 10, 784), (17, 33, 5), (64, 128, 1024), (3, 3168, 576), (100, 7, 300), (31, 47, 17), (16, 16, 16)];
    for (row, &(m, n, k)) in sizes.iter().enumerate() {
        let g = &engine(gpu, row);
        let s = MatmulShape { m, n, k, trans_a: row % 2 == 1, trans_b: row % 4 >= 2 };
        let (with_bias, relu) = (row % 3 != 0, row % 3 == 2);
        let (a, b, bias) = (rng.vec(m * k), rng.vec(k * n), rng.vec(n));
        let (av, bv, biasv, c) = (upload(g, &a)?, upload(g, &b)?, upload(g, &bias)?, poisoned(g, m * n)?);
        let d = matmul(g, &s, &av, &bv, with_bias.then_some(&biasv), relu, &c).map_err(err)?;
        let out = run_and_read(g, &[&d], &[&c]).await?;
        let what = format!("{m}x{k} * {k}x{n} trans_a={} trans_b={} bias={with_bias} relu={relu}", s.trans_a, s.trans_b);
        rep.compare(&what, &out[0], &cpu::dense::matmul(&s, &a, &b, with_bias.then_some(&bias[..]), relu))?;
        rep.shapes.push(what);
    }
    Ok(rep)
}

async fn dense_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("dense");
    let shapes = [(1, 784, 10), (5, 17, 3), (33, 100, 129), (64, 1024, 128), (2, 576, 3168)];
    for (row, &(batch, in_f, out_f)) in shapes.iter().enumerate() {
        let g = &engine(gpu, row);
        let s = DenseShape { batch, in_f, out_f };
        let (x, w, b, dy) = (rng.vec(batch * in_f), rng.vec(out_f * in_f), rng.vec(out_f), rng.vec(batch * out_f));
        let (xv, wv, bv, dyv) = (upload(g, &x)?, upload(g, &w)?, upload(g, &b)?, upload(g, &dy)?);
        let (y, dx, dw, db) = (poisoned(g, batch * out_f)?, poisoned(g, batch * in_f)?, poisoned(g, out_f * in_f)?, poisoned(g, out_f)?);
        let relu = row % 2 == 0;
        let ds = [
            dense_forward(g, &s, &xv, &wv, &bv, &y, relu).map_err(err)?,
            dense_backward_input(g, &s, &dyv, &wv, &dx).map_err(err)?,
            dense_backward_weights(g, &s, &xv, &dyv, &dw).map_err(err)?,
            dense_backward_bias(g, &s, &dyv, &db).map_err(err)?,
        ];
        let out = run_and_read(g, &ds.iter().collect::<Vec<_>>(), &[&y, &dx, &dw, &db]).await?;
        let what = format!("[{batch}, {in_f}] -> {out_f}");
        rep.compare(&format!("forward {what}"), &out[0], &cpu::dense::dense_forward(&s, &x, &w, &b, relu))?;
        rep.compare(&format!("backward input {what}"), &out[1], &cpu::dense::dense_backward_input(&s, &dy, &w))?;
        rep.compare(&format!("backward weights {what}"), &out[2], &cpu::dense::dense_backward_weights(&s, &x, &dy))?;
        rep.compare(&format!("backward bias {what}"), &out[3], &cpu::dense::dense_backward_bias(&s, &dy))?;
        rep.shapes.push(what);
    }
    Ok(rep)
}

async fn dense_backward_matches_finite_differences(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("dense backward (finite differences)");
    let s = DenseShape { batch: 3, in_f: 7, out_f: 5 };
    let (x, w, b, r) = (rng.vec(21), rng.vec(35), rng.vec(5), rng.vec(15));
    let (xv, wv, rv) = (upload(gpu, &x)?, upload(gpu, &w)?, upload(gpu, &r)?);
    let (dx, dw, db) = (poisoned(gpu, 21)?, poisoned(gpu, 35)?, poisoned(gpu, 5)?);
    let ds = [
        dense_backward_input(gpu, &s, &rv, &wv, &dx).map_err(err)?,
        dense_backward_weights(gpu, &s, &xv, &rv, &dw).map_err(err)?,
        dense_backward_bias(gpu, &s, &rv, &db).map_err(err)?,
    ];
    let gpu_grads = run_and_read(gpu, &ds.iter().collect::<Vec<_>>(), &[&dx, &dw, &db]).await?;
    let cpu_grads = [
        cpu::dense::dense_backward_input(&s, &r, &w),
        cpu::dense::dense_backward_weights(&s, &x, &r),
        cpu::dense::dense_backward_bias(&s, &r),
    ];
    let f = |x: &[f32], w: &[f32], b: &[f32]| project(&cpu::dense::dense_forward(&s, x, w, b, false), &r);
    for grads in [&cpu_grads[..], &gpu_grads[..]] {
        rep.check_fd("dx", &x, &grads[0], 1e-2, rng, 50, |_| false, |v| f(v, &w, &b))?;
        rep.check_fd("dw", &w, &grads[1], 1e-2, rng, 50, |_| false, |v| f(&x, v, &b))?;
        rep.check_fd("db", &b, &grads[2], 1e-2, rng, 50, |_| false, |v| f(&x, &w, v))?;
    }
    rep.shapes.push("[3, 7] -> 5".into());
    Ok(rep)
}

async fn relu_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("relu");
    for (row, n) in [1usize, 255, 257, 1000, 1_000_003].into_iter().enumerate() {
        let g = &engine(gpu, row);
        let (x, dy) = (rng.vec(n), rng.vec(n));
        let ref_y = cpu::relu::relu_forward(&x);
        let (xv, yin, dyv, y, dx) = (upload(g, &x)?, upload(g, &ref_y)?, upload(g, &dy)?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [relu_forward(g, n, &xv, &y).map_err(err)?, relu_backward(g, n, &yin, &dyv, &dx).map_err(err)?];
        let out = run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?;
        rep.compare(&format!("forward n={n}"), &out[0], &ref_y)?;
        rep.compare(&format!("backward n={n}"), &out[1], &cpu::relu::relu_backward(&ref_y, &dy))?;
        rep.shapes.push(format!("n={n}"));
    }
    Ok(rep)
}

async fn relu_backward_matches_finite_differences(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("relu backward (finite differences)");
    let (x, r) = (rng.vec(60), rng.vec(60));
    let y = cpu::relu::relu_forward(&x);
    let (yv, rv, dx) = (upload(gpu, &y)?, upload(gpu, &r)?, poisoned(gpu, 60)?);
    let d = relu_backward(gpu, 60, &yv, &rv, &dx).map_err(err)?;
    let out = run_and_read(gpu, &[&d], &[&dx]).await?;
    let near_kink = |i: usize| x[i].abs() < 0.02;
    let f = |xp: &[f32]| project(&cpu::relu::relu_forward(xp), &r);
    rep.check_fd("reference dx", &x, &cpu::relu::relu_backward(&y, &r), 1e-2, rng, 60, near_kink, f)?;
    rep.check_fd("GPU dx", &x, &out[0], 1e-2, rng, 60, near_kink, f)?;
    rep.shapes.push("n=60".into());
    Ok(rep)
}

async fn dropout_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("dropout");
    let configs = [
        (DropoutConfig { rate: 0.5, unit_size: 1, seed: rng.next_u32(), training: true }, 100_003),
        (DropoutConfig { rate: 0.25, unit_size: 49, seed: rng.next_u32(), training: true }, 49 * 2000),
        (DropoutConfig { rate: 0.5, unit_size: 1, seed: rng.next_u32(), training: false }, 1001),
        (DropoutConfig { rate: 0.0, unit_size: 13, seed: 7, training: true }, 13 * 5),
    ];
    for (row, (c, n)) in configs.into_iter().enumerate() {
        let g = &engine(gpu, row);
        let step = rng.next_u32() % 1000;
        let (x, dy) = (rng.vec(n), rng.vec(n));
        let (xv, dyv, stepv, y, dx) = (upload(g, &x)?, upload(g, &dy)?, upload(g, &[step])?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [dropout_forward(g, &c, n, &xv, &stepv, &y).map_err(err)?, dropout_backward(g, &c, n, &dyv, &stepv, &dx).map_err(err)?];
        let out = run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?;
        let what = format!("rate {} unit {} training {} n={n}", c.rate, c.unit_size, c.training);
        rep.compare(&format!("forward {what}"), &out[0], &cpu::dropout::dropout_forward(&c, step, &x))?;
        rep.compare(&format!("backward {what}"), &out[1], &cpu::dropout::dropout_backward(&c, step, &dy))?;
        // The masks must really drop about `rate` of the units.
        let units = n / c.unit_size;
        let dropped = (0..units).filter(|u| cpu::dropout::dropout_factor(&c, step, u * c.unit_size) == 0.0).count();
        let expected = if c.training { c.rate as f64 } else { 0.0 };
        let fraction = dropped as f64 / units as f64;
        if (fraction - expected).abs() > 4.0 * (expected * (1.0 - expected) / units as f64).sqrt() + 1e-9 {
            return Err(format!("dropout {what}: dropped {fraction:.4} of units, expected {expected}"));
        }
        rep.shapes.push(what);
    }
    // Another step gives another mask.
    let c = DropoutConfig { rate: 0.5, unit_size: 1, seed: 1, training: true };
    let (m1, m2): (Vec<f32>, Vec<f32>) =
        (0..64).map(|i| (cpu::dropout::dropout_factor(&c, 1, i), cpu::dropout::dropout_factor(&c, 2, i))).unzip();
    if m1 == m2 {
        return Err("dropout: steps 1 and 2 gave the same mask".into());
    }
    Ok(rep)
}

async fn dropout_backward_matches_finite_differences(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("dropout backward (finite differences)");
    let c = DropoutConfig { rate: 0.4, unit_size: 5, seed: 11, training: true };
    let (x, r, step) = (rng.vec(40), rng.vec(40), 3);
    let (rv, stepv, dx) = (upload(gpu, &r)?, upload(gpu, &[step])?, poisoned(gpu, 40)?);
    let d = dropout_backward(gpu, &c, 40, &rv, &stepv, &dx).map_err(err)?;
    let out = run_and_read(gpu, &[&d], &[&dx]).await?;
    let f = |xp: &[f32]| project(&cpu::dropout::dropout_forward(&c, step, xp), &r);
    rep.check_fd("reference dx", &x, &cpu::dropout::dropout_backward(&c, step, &r), 1e-2, rng, 40, |_| false, f)?;
    rep.check_fd("GPU dx", &x, &out[0], 1e-2, rng, 40, |_| false, f)?;
    rep.shapes.push("n=40 unit 5".into());
    Ok(rep)
}

async fn batchnorm_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("batchnorm");
    let shapes = [(2, 5, 9), (7, 3, 1), (8, 32, 121), (3, 64, 16), (1, 48, 13), (64, 10, 1)];
    for (row, &(n, channels, inner)) in shapes.iter().enumerate() {
        let g = &engine(gpu, row);
        let s = BatchNormShape { n, channels, inner, eps: 1e-3, momentum: if row % 2 == 0 { 0.01 } else { 0.1 } };
        // Shifted and scaled inputs: the two-pass variance must not lose precision.
        let x: Vec<f32> = rng.vec(s.len()).into_iter().map(|v| 3.0 + 2.0 * v).collect();
        let (gamma, beta, dy) = (rng.vec(channels), rng.vec(channels), rng.vec(s.len()));
        let running: Vec<f32> = rng.vec(channels).into_iter().chain((0..channels).map(|_| 0.5 + rng.uniform())).collect();
        let (xv, gv, bv, dyv, runv) = (upload(g, &x)?, upload(g, &gamma)?, upload(g, &beta)?, upload(g, &dy)?, upload(g, &running)?);
        let (y, stats, y_eval) = (poisoned(g, s.len())?, poisoned(g, 2 * channels)?, poisoned(g, s.len())?);
        let (dx, dgamma, dbeta) = (poisoned(g, s.len())?, poisoned(g, channels)?, poisoned(g, channels)?);
        // Eval first (on the initial running statistics), then a training step.
        let mut ds = batchnorm_forward(g, &s, false, &xv, &gv, &bv, &stats, &runv, &y_eval).map_err(err)?;
        ds.extend(batchnorm_forward(g, &s, true, &xv, &gv, &bv, &stats, &runv, &y).map_err(err)?);
        ds.extend(batchnorm_backward(g, &s, &xv, &dyv, &gv, &stats, &dgamma, &dbeta, &dx).map_err(err)?);
        let out = run_and_read(g, &ds.iter().collect::<Vec<_>>(), &[&y_eval, &y, &stats, &runv, &dx, &dgamma, &dbeta]).await?;
        let mut ref_running = running.clone();
        let (ref_eval, _) = cpu::batchnorm::batchnorm_forward(&s, false, &x, &gamma, &beta, &mut ref_running);
        let (ref_y, ref_stats) = cpu::batchnorm::batchnorm_forward(&s, true, &x, &gamma, &beta, &mut ref_running);
        let (ref_dx, ref_dg, ref_db) = cpu::batchnorm::batchnorm_backward(&s, &x, &dy, &gamma);
        let what = format!("[{n}, {channels}, {inner}]");
        rep.compare(&format!("eval forward {what}"), &out[0], &ref_eval)?;
        rep.compare(&format!("train forward {what}"), &out[1], &ref_y)?;
        rep.compare(&format!("batch statistics {what}"), &out[2], &ref_stats)?;
        rep.compare(&format!("running statistics {what}"), &out[3], &ref_running)?;
        rep.compare(&format!("backward input {what}"), &out[4], &ref_dx)?;
        rep.compare(&format!("backward gamma {what}"), &out[5], &ref_dg)?;
        rep.compare(&format!("backward beta {what}"), &out[6], &ref_db)?;
        rep.shapes.push(what);
    }
    Ok(rep)
}

async fn batchnorm_backward_matches_finite_differences(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("batchnorm backward (finite differences)");
    let s = BatchNormShape { n: 3, channels: 4, inner: 5, eps: 1e-3, momentum: 0.1 };
    let (x, gamma, beta, r) = (rng.vec(s.len()), rng.vec(4), rng.vec(4), rng.vec(s.len()));
    let (xv, gv, bv, rv, runv) = (upload(gpu, &x)?, upload(gpu, &gamma)?, upload(gpu, &beta)?, upload(gpu, &r)?, upload(gpu, &[0f32; 8])?);
    let (y, stats, dx, dg, db) =
        (poisoned(gpu, s.len())?, poisoned(gpu, 8)?, poisoned(gpu, s.len())?, poisoned(gpu, 4)?, poisoned(gpu, 4)?);
    let mut ds = batchnorm_forward(gpu, &s, true, &xv, &gv, &bv, &stats, &runv, &y).map_err(err)?;
    ds.extend(batchnorm_backward(gpu, &s, &xv, &rv, &gv, &stats, &dg, &db, &dx).map_err(err)?);
    let gpu_grads = run_and_read(gpu, &ds.iter().collect::<Vec<_>>(), &[&dx, &dg, &db]).await?;
    let (cdx, cdg, cdb) = cpu::batchnorm::batchnorm_backward(&s, &x, &r, &gamma);
    let f = |x: &[f32], g: &[f32], b: &[f32]| project(&cpu::batchnorm::batchnorm_forward(&s, true, x, g, b, &mut [0.0; 8]).0, &r);
    for grads in [[&cdx, &cdg, &cdb], [&gpu_grads[0], &gpu_grads[1], &gpu_grads[2]]] {
        rep.check_fd("dx", &x, grads[0], 3e-3, rng, 60, |_| false, |v| f(v, &gamma, &beta))?;
        rep.check_fd("dgamma", &gamma, grads[1], 3e-3, rng, 4, |_| false, |v| f(&x, v, &beta))?;
        rep.check_fd("dbeta", &beta, grads[2], 3e-3, rng, 4, |_| false, |v| f(&x, &gamma, v))?;
    }
    rep.shapes.push("[3, 4, 5]".into());
    Ok(rep)
}

async fn softmax_xent_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("softmax_xent");
    for (row, &(n, classes, scale)) in
        [(1, 10, 1.0), (7, 10, 5.0), (300, 10, 100.0), (5, 3, 1.0), (64, 1000, 3.0), (1000, 10, 1.0)].iter().enumerate()
    {
        let g = &engine(gpu, row);
        let logits: Vec<f32> = rng.vec(n * classes).into_iter().map(|v| v * scale).collect();
        let labels: Vec<u32> = (0..n).map(|_| rng.below(classes) as u32).collect();
        let (lv, labv, metrics) = (upload(g, &logits)?, upload(g, &labels)?, upload(g, &[0f32; 3])?);
        let (grad, loss, correct, probs) = (poisoned(g, n * classes)?, poisoned(g, n)?, poisoned(g, n)?, poisoned(g, n * classes)?);
        let x = softmax_xent(g, n, classes, &lv, &labv, &grad, &loss, &correct).map_err(err)?;
        let acc = accumulate_metrics(g, n, &loss, &correct, &metrics).map_err(err)?;
        let sm = softmax(g, n, classes, &lv, &probs).map_err(err)?;
        // Accumulating twice must add up.
        let out = run_and_read(g, &[&x, &acc, &acc, &sm], &[&grad, &metrics, &probs]).await?;
        let (ref_grad, ref_loss, ref_correct) = cpu::softmax_xent::softmax_xent(n, classes, &logits, &labels);
        let what = format!("[{n}, {classes}] logits x{scale}");
        rep.compare(&format!("gradient {what}"), &out[0], &ref_grad)?;
        rep.compare(&format!("loss {what}"), &[out[1][0] / (2 * n) as f32], &[ref_loss])?;
        rep.compare_exact(&format!("correct and count {what}"), &out[1][1..], &[2.0 * ref_correct as f32, 2.0 * n as f32])?;
        rep.compare(&format!("softmax {what}"), &out[2], &cpu::softmax_xent::softmax(n, classes, &logits))?;
        rep.shapes.push(what);
    }
    Ok(rep)
}

async fn softmax_xent_gradient_matches_finite_differences(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("softmax_xent gradient (finite differences)");
    let (n, classes) = (4, 10);
    let logits = rng.vec(n * classes);
    let labels: Vec<u32> = (0..n).map(|_| rng.below(classes) as u32).collect();
    let (lv, labv) = (upload(gpu, &logits)?, upload(gpu, &labels)?);
    let (grad, loss, correct) = (poisoned(gpu, n * classes)?, poisoned(gpu, n)?, poisoned(gpu, n)?);
    let d = softmax_xent(gpu, n, classes, &lv, &labv, &grad, &loss, &correct).map_err(err)?;
    let out = run_and_read(gpu, &[&d], &[&grad]).await?;
    let f = |l: &[f32]| cpu::softmax_xent::softmax_xent(n, classes, l, &labels).1 as f64;
    rep.check_fd("reference", &logits, &cpu::softmax_xent::softmax_xent(n, classes, &logits, &labels).0, 1e-2, rng, 40, |_| false, f)?;
    rep.check_fd("GPU", &logits, &out[0], 1e-2, rng, 40, |_| false, f)?;
    rep.shapes.push("[4, 10]".into());
    Ok(rep)
}

fn optimizers() -> [Optimizer; 7] {
    [
        Optimizer::Sgd { lr: 0.01, momentum: 0.9, nesterov: false, weight_decay: 0.0 },
        Optimizer::Sgd { lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 1e-4 },
        Optimizer::Sgd { lr: 0.1, momentum: 0.0, nesterov: false, weight_decay: 0.0 },
        Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
        Optimizer::Adam { lr: 1e-2, beta1: 0.8, beta2: 0.99, eps: 1e-7, weight_decay: 1e-3 },
        Optimizer::RmsProp { lr: 1e-3, rho: 0.9, eps: 1e-7, weight_decay: 0.0 },
        Optimizer::Adadelta { lr: 1.0, rho: 0.95, eps: 1e-7, weight_decay: 0.0 },
    ]
}

async fn optimizers_match_reference_for_three_steps(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("optimizers");
    for (row, opt) in optimizers().iter().enumerate() {
        let g = &engine(gpu, row);
        let n = 1000 + row * 37;
        let mut params = rng.vec(n);
        let (mut s1, mut s2) = (vec![0f32; n], vec![0f32; n]);
        let (pv, gv, s1v, s2v, stepv) =
            (upload(g, &params)?, upload(g, &vec![0f32; n])?, upload(g, &s1)?, upload(g, &s2)?, upload(g, &[0u32])?);
        let ds = optimizer_step(g, opt, &pv, &gv, &s1v, &s2v, &stepv).map_err(err)?;
        for step in 1..=3 {
            let grads: Vec<f32> = rng.vec(n).into_iter().map(|v| v * 0.1).collect();
            gv.write(g, &grads);
            run(g, &ds.iter().collect::<Vec<_>>());
            let out: Vec<f32> = pv.read(g).await.map_err(err)?;
            cpu::optim::optimizer_step(opt, step, &mut params, &grads, &mut s1, &mut s2);
            rep.compare(&format!("{opt:?} step {step}"), &out, &params)?;
        }
        let steps: Vec<u32> = stepv.read(g).await.map_err(err)?;
        rep.compare_exact("step counter", &steps, &[3])?;
        rep.shapes.push(format!("{} n={n}", opt.entry()));
    }
    Ok(rep)
}

/// The reference against numbers worked out by hand (constant or given gradients, p0 = 1).
fn optimizers_match_hand_computed_values() -> Result<Report, String> {
    let mut rep = Report::new("optimizers (hand-computed)");
    let cases: [(Optimizer, [f32; 3], [f32; 3]); 5] = [
        // v = 1, 1.9, 2.71; p -= 0.1 v
        (Optimizer::Sgd { lr: 0.1, momentum: 0.9, nesterov: false, weight_decay: 0.0 }, [1.0; 3], [0.9, 0.71, 0.439]),
        // p -= 0.1 (g + 0.9 v): 0.19, 0.271, 0.3439
        (Optimizer::Sgd { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0 }, [1.0; 3], [0.81, 0.539, 0.1951]),
        // step 1 moves by exactly lr; then m_hat / sqrt(v_hat) with g = -2, 0.5
        (
            Optimizer::Adam { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
            [1.0, -2.0, 0.5],
            [0.9, 0.936_610_35, 0.950_279_4],
        ),
        // v = 0.1, 0.19, 0.271; p -= 0.01 / sqrt(v)
        (Optimizer::RmsProp { lr: 0.01, rho: 0.9, eps: 0.0, weight_decay: 0.0 }, [1.0; 3], [0.968_377_2, 0.945_435_65, 0.926_226_2]),
        // delta = sqrt(u + eps) / sqrt(v + eps) g, u tracks delta^2
        (Optimizer::Adadelta { lr: 1.0, rho: 0.9, eps: 1e-6, weight_decay: 0.0 }, [1.0; 3], [0.996_837_74, 0.993_593_3, 0.990_292_5]),
    ];
    for (opt, grads, expected) in cases {
        let (mut p, mut s1, mut s2) = ([1f32], [0f32], [0f32]);
        for step in 0..3 {
            cpu::optim::optimizer_step(&opt, step as u32 + 1, &mut p, &[grads[step]], &mut s1, &mut s2);
            rep.compare(&format!("{opt:?} step {}", step + 1), &p, &[expected[step]])?;
        }
        rep.shapes.push(opt.entry().into());
    }
    Ok(rep)
}

async fn gather_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("gather");
    for (row, &(count, pixels, batch, order_len)) in [(10, 784, 3, 10), (37, 5, 7, 20), (1000, 784, 64, 999)].iter().enumerate() {
        let g = &engine(gpu, row);
        let images: Vec<u8> = (0..count * pixels).map(|_| rng.below(256) as u8).collect();
        let labels: Vec<u32> = (0..count).map(|_| rng.below(10) as u32).collect();
        let order: Vec<u32> = (0..order_len).map(|_| rng.below(count) as u32).collect();
        let s = GatherShape { batch, pixels, count: order_len, scale: 1.0 / 255.0, shift: -0.5 };
        let cursor = rng.below(order_len);
        let (iv, lv, ov, cv) =
            (upload(g, &cpu::gather::pack_bytes(&images))?, upload(g, &labels)?, upload(g, &order)?, upload(g, &[cursor as u32])?);
        let (x, y) = (poisoned(g, batch * pixels)?, upload(g, &vec![u32::MAX; batch])?);
        let ds = gather_batch(g, &s, &iv, &lv, &ov, &cv, &x, &y).map_err(err)?;
        let out = run_and_read(g, &[&ds[0], &ds[1]], &[&x]).await?;
        let (ref_x, ref_y) = cpu::gather::gather_batch(&s, &images, &labels, &order, cursor);
        let what = format!("{batch} of {count} images of {pixels} bytes");
        rep.compare(&what, &out[0], &ref_x)?;
        rep.compare_exact("labels", &y.read::<u32>(g).await.map_err(err)?, &ref_y)?;
        rep.compare_exact("cursor advanced by the batch", &cv.read::<u32>(g).await.map_err(err)?, &[(cursor + batch) as u32])?;
        rep.shapes.push(what);
    }
    Ok(rep)
}

/// Mismatched shapes and impossible sizes are errors, not panics.
fn bad_shapes_are_errors(gpu: &Gpu) -> Result<Report, String> {
    let rep = Report::new("bad shapes");
    let v = |n| View::new(gpu, "t", n).map_err(err);
    let s = conv(1, 1, 5, 5, 2, 3, 3, 1, 0, 0);
    let expect_err = |what: &str, r: Result<crate::ops::Dispatch, crate::Error>| match r {
        Err(crate::Error::Shape(_)) | Err(crate::Error::TooLarge(_)) => Ok(()),
        Err(e) => Err(format!("{what}: unexpected error kind {e}")),
        Ok(_) => Err(format!("{what}: was accepted")),
    };
    expect_err("conv2d with a wrong-sized input", conv2d_forward(gpu, &s, &v(24)?, &v(18)?, &v(2)?, &v(18)?, false))?;
    expect_err(
        "conv2d with a kernel larger than the input",
        conv2d_forward(gpu, &conv(1, 1, 2, 2, 1, 3, 3, 1, 0, 0), &v(4)?, &v(9)?, &v(1)?, &v(1)?, false),
    )?;
    expect_err(
        "matmul with mismatched inner sizes",
        matmul(gpu, &MatmulShape { m: 2, n: 3, k: 4, trans_a: false, trans_b: false }, &v(8)?, &v(10)?, None, false, &v(6)?),
    )?;
    expect_err("maxpool of a 1x1 input", maxpool_forward(gpu, &PoolShape { planes: 1, in_h: 1, in_w: 1 }, &v(1)?, &v(1)?, &v(1)?))?;
    let too_big = gpu.limits.max_storage_buffer_binding_size as usize / 4 + 1;
    match View::new(gpu, "huge", too_big) {
        Err(crate::Error::TooLarge(_)) => {}
        other => return Err(format!("a buffer over the binding limit: {:?}", other.map(|_| ()))),
    }
    let mut tiny = gpu.clone();
    tiny.max_workgroups_per_dim = 1;
    tiny.limits.max_compute_workgroups_per_dimension = 2;
    expect_err("a dispatch over the workgroup limit", relu_forward(&tiny, 5000, &v(5000)?, &v(5000)?))?;
    Ok(rep)
}

/// Every preset's whole GPU network (eval mode) against the CPU reference network, with
/// every tensor random, running statistics included: this checks how the model lays its
/// tensors out, under this adapter's binding alignment and under the 256 bytes browsers use.
async fn every_preset_network_matches_reference(gpu: &Gpu, rng: &mut Rng) -> Result<Report, String> {
    use crate::model::{Graph, Model, Spec, PRESETS};
    let mut rep = Report::new("every preset's network");
    let batch = 2;
    let mut browser_like = gpu.clone();
    browser_like.limits.min_storage_buffer_offset_alignment = browser_like.limits.min_storage_buffer_offset_alignment.max(256);
    for (gpu, name) in [gpu, &browser_like].into_iter().flat_map(|g| PRESETS.iter().map(move |n| (g, n))) {
        let spec = Spec::preset(name).ok_or("no preset")?;
        let model = Model::new(gpu, &spec, rng.below(1000) as u64).map_err(err)?;
        let values: Vec<Vec<f32>> = model
            .tensors
            .iter()
            .map(|t| match t.name.rsplit('.').next() {
                Some("running_var") => (0..t.len).map(|_| 0.5 + rng.uniform()).collect(),
                _ => rng.vec(t.len).iter().map(|v| v * 0.3).collect(),
            })
            .collect();
        model.write_tensors(&values);
        let tensors: Vec<_> = model.tensors.iter().cloned().zip(values).collect();
        let images: Vec<f32> = (0..batch * 784).map(|_| rng.uniform()).collect();
        let graph = Graph::new(&model, batch, None).map_err(err)?;
        crate::train::predict(gpu, &graph, &images).await.map_err(err)?;
        let logits = graph.logits.read(gpu).await.map_err(err)?;
        let align = gpu.limits.min_storage_buffer_offset_alignment;
        rep.compare(&format!("{name}, {align}-byte alignment"), &logits, &cpu::network::forward(&model.layers, &tensors, batch, &images))?;
        rep.shapes.push(format!("{name} ({align} B)"));
    }
    Ok(rep)
}
