//! Property test of the CPU engine's convolution algorithms (`cpu::conv2d::Algo`): on
//! random shapes (kernel 1-6, rectangular, padding under the kernel, stride 1 or 2, 1-12
//! channels in, 1-20 out, planes up to 17 wide), every algorithm this CPU has that
//! computes the shape must write every output element (they start as NaN) and agree
//! with the f64 reference within the engine suite's tolerance, in all three passes. The
//! direct and Winograd kernels read through raw pointers into buffers sized by their own
//! geometry: shapes the suite's fixed table never tries are where a wrong size would show.
//! 300 cases by default; FUZZ_CASES=N runs more.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use wgpu_mnist::cpu::conv2d::{
    conv2d_backward_bias, conv2d_backward_input_by, conv2d_backward_weights, conv2d_backward_weights_by, conv2d_backward_weights_pooled,
    conv2d_forward, conv2d_forward_by, conv2d_pool_forward, Algo,
};
use wgpu_mnist::cpu::maxpool::{maxpool_backward, maxpool_forward, maxpool_relu_backward, PoolGrad};
use wgpu_mnist::desc::conv2d::Conv2dShape;
use wgpu_mnist::desc::maxpool::PoolShape;
use wgpu_mnist::reference::conv2d as reference;
use wgpu_mnist::selftest::{relative_error, TOLERANCE};

fn shape() -> impl Strategy<Value = Conv2dShape> {
    (1usize..4, 1usize..13, 1usize..21, 1usize..7, 1usize..7, 1usize..3, 0usize..6, 0usize..6, 0usize..12, 0usize..12).prop_map(
        |(batch, in_c, out_c, k_h, k_w, stride, pad_h, pad_w, extra_h, extra_w)| Conv2dShape {
            batch,
            in_c,
            in_h: k_h + extra_h,
            in_w: k_w + extra_w,
            out_c,
            k_h,
            k_w,
            stride,
            pad_h: pad_h % k_h,
            pad_w: pad_w % k_w,
        },
    )
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn config() -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_cpu_convolution_algorithm_matches_the_reference(s in shape(), seed in any::<u64>(), relu in any::<bool>()) {
        let (x, w, b, dy) = (values(s.input_len(), seed), values(s.weight_len(), seed ^ 1), values(s.out_c, seed ^ 2), values(s.output_len(), seed ^ 3));
        let want = [
            reference::conv2d_forward(&s, &x, &w, &b, relu),
            reference::conv2d_backward_input(&s, &dy, &w),
            reference::conv2d_backward_weights(&s, &x, &dy),
        ];
        for algo in Algo::all().into_iter().filter(|a| a.computes(&s)) {
            let (mut y, mut dx, mut dw) = (vec![f32::NAN; s.output_len()], vec![f32::NAN; s.input_len()], vec![f32::NAN; s.weight_len()]);
            conv2d_forward_by(algo, &s, &x, &w, &b, &mut y, relu).unwrap();
            conv2d_backward_input_by(algo, &s, &dy, &w, &mut dx);
            conv2d_backward_weights_by(algo, &s, &x, &dy, &mut dw);
            for (pass, (got, want)) in ["forward", "input gradient", "weight gradient"].iter().zip([&y, &dx, &dw].into_iter().zip(&want)) {
                let err = relative_error(got, want).map_err(|e| TestCaseError::fail(format!("{} {pass} {s:?}: {e}", algo.name())))?;
                prop_assert!(err <= TOLERANCE, "{} {pass} {s:?}: relative error {err:.3e}", algo.name());
            }
        }
    }

    /// The convolution with its max-pool done as each image is ready equals the two
    /// passes, bit for bit: output, pooled output and argmax (all start as NaN / MAX); so
    /// does the pooled output alone (an empty y).
    #[test]
    fn conv_then_pool_in_one_pass_equals_the_two_passes(s in shape(), seed in any::<u64>(), relu in any::<bool>()) {
        prop_assume!(s.out_h() >= 2 && s.out_w() >= 2);
        let (x, w, b) = (values(s.input_len(), seed), values(s.weight_len(), seed ^ 1), values(s.out_c, seed ^ 2));
        let pool = PoolShape { planes: s.batch * s.out_c, in_h: s.out_h(), in_w: s.out_w() };
        let (mut y0, mut p0, mut a0) = (vec![f32::NAN; s.output_len()], vec![f32::NAN; pool.output_len()], vec![u32::MAX; pool.output_len()]);
        conv2d_forward(&s, &x, &w, &b, &mut y0, relu).unwrap();
        maxpool_forward(&pool, &y0, &mut p0, &mut a0).unwrap();
        let (mut y1, mut p1, mut a1) = (vec![f32::NAN; s.output_len()], vec![f32::NAN; pool.output_len()], vec![u32::MAX; pool.output_len()]);
        conv2d_pool_forward(&s, &x, &w, &b, &mut y1, relu, &mut p1, &mut a1).unwrap();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        prop_assert!(p1.iter().all(|v| v.is_finite()), "{s:?}: a pooled output was not written");
        prop_assert_eq!(bits(&y1), bits(&y0), "{:?}: output", s);
        prop_assert_eq!(bits(&p1), bits(&p0), "{:?}: pooled", s);
        prop_assert_eq!(&a1, &a0, "{:?}: argmax", s);
        // An empty y asks for the pooled output alone: the same, bit for bit.
        let (mut p2, mut a2) = (vec![f32::NAN; pool.output_len()], vec![u32::MAX; pool.output_len()]);
        conv2d_pool_forward(&s, &x, &w, &b, &mut [], relu, &mut p2, &mut a2).unwrap();
        prop_assert_eq!(bits(&p2), bits(&p0), "{:?}: pooled, output not kept", s);
        prop_assert_eq!(a2, a0, "{:?}: argmax, output not kept", s);
    }

    /// The weight and bias gradients read straight from the max-pool's gradient equal the
    /// pool's backward then the convolution's: dW bit for bit, db (summed in another
    /// order) within the suite's tolerance; with and without the ReLU's mask.
    #[test]
    fn weights_from_the_pool_gradient_equal_the_two_passes(s in shape(), seed in any::<u64>(), relu in any::<bool>()) {
        prop_assume!(s.out_h() >= 2 && s.out_w() >= 2);
        let (x, w, b) = (values(s.input_len(), seed), values(s.weight_len(), seed ^ 1), values(s.out_c, seed ^ 2));
        let pool = PoolShape { planes: s.batch * s.out_c, in_h: s.out_h(), in_w: s.out_w() };
        let (mut y, mut pooled, mut argmax) = (vec![0f32; s.output_len()], vec![0f32; pool.output_len()], vec![0u32; pool.output_len()]);
        conv2d_pool_forward(&s, &x, &w, &b, &mut y, relu, &mut pooled, &mut argmax).unwrap();
        let dp = values(pool.output_len(), seed ^ 3);
        let mut dy = vec![f32::NAN; s.output_len()];
        if relu {
            maxpool_relu_backward(&pool, &dp, &argmax, &pooled, &mut dy);
        } else {
            maxpool_backward(&pool, &dp, &argmax, &mut dy);
        }
        let (mut dw0, mut db0) = (vec![f32::NAN; s.weight_len()], vec![f32::NAN; s.out_c]);
        conv2d_backward_weights(&s, &x, &dy, &mut dw0);
        conv2d_backward_bias(&s, &dy, &mut db0);
        let (mut dw1, mut db1) = (vec![f32::NAN; s.weight_len()], vec![f32::NAN; s.out_c]);
        let g = PoolGrad { dy: &dp, argmax: &argmax, relu_of: relu.then_some(&pooled[..]) };
        conv2d_backward_weights_pooled(&s, &x, g, &mut dw1, &mut db1).unwrap();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        prop_assert!(dw1.iter().chain(&db1).all(|v| v.is_finite()), "{s:?}: a gradient was not written");
        prop_assert_eq!(bits(&dw1), bits(&dw0), "{:?}: weight gradient", s);
        let err = relative_error(&db1, &db0).map_err(|e| TestCaseError::fail(format!("{s:?}: bias gradient: {e}")))?;
        prop_assert!(err <= TOLERANCE, "{s:?}: bias gradient, relative error {err:.3e}");
    }
}
