//! The engine's test suite, written once and run everywhere: by `cargo test` (wgpu on
//! Vulkan, and the CPU engine), by `wasm-pack test` (WebGPU and the CPU engine in
//! headless Chromium), and by the web page's self-test. Each case runs an engine's op on
//! fresh random inputs over a table of awkward shapes, with its outputs poisoned with NaN
//! first, and compares it with the f64 reference; each backward pass is also checked
//! against central finite differences.

mod cases;
mod check;
mod engine;
#[cfg(feature = "gpu")]
mod engine_gpu;

pub use check::{relative_error, Report, Rng, FD_TOLERANCE, NETWORK_TOLERANCE, TOLERANCE};
pub use engine::{CpuEngine, OpEngine, Widen, CPU_ENGINE};
#[cfg(feature = "gpu")]
pub use engine_gpu::GpuEngine;

/// The list of cases, kept in this one place: it makes `CASES`, `run_case`, and (through
/// `for_each_case!`) the `#[test]` functions of tests/engine.rs. Each entry is
/// `module::case`, the module under src/selftest/cases/ that mirrors src/ops/.
macro_rules! suite {
    ($($module:ident :: $case:ident),* $(,)?) => {
        /// Every case, by name (the test runners make one test of each, per engine).
        pub const CASES: &[&str] = &[$(stringify!($case)),*];

        /// Runs one case on fresh random inputs; the error names the seed that reproduces it.
        pub async fn run_case<E: OpEngine>(engine: &E, name: &str) -> Result<Report, String> {
            let seed = check::fresh_seed();
            let rng = &mut Rng::new(seed);
            let result = match name {
                $(stringify!($case) => cases::$module::$case(engine, rng).await,)*
                other => Err(format!("no case named {other}")),
            };
            result.map_err(|e| format!("{} engine: {e} (seed {seed})", engine.name()))
        }

        /// Calls `$m!(case, case, ...)` with every case: how test files get one test each.
        #[macro_export]
        macro_rules! for_each_case {
            ($m:ident) => { $m!($($case),*); };
        }
    };
}

suite!(
    conv2d::conv2d_matches_reference,
    conv2d::conv2d_backward_matches_finite_differences,
    maxpool::maxpool_matches_reference,
    maxpool::maxpool_backward_matches_finite_differences,
    dense::matmul_matches_reference,
    dense::dense_matches_reference,
    dense::dense_backward_matches_finite_differences,
    relu::relu_matches_reference,
    relu::relu_backward_matches_finite_differences,
    normalize::normalize_matches_reference,
    normalize::normalize_backward_matches_finite_differences,
    dropout::dropout_matches_reference,
    dropout::dropout_backward_matches_finite_differences,
    batchnorm::batchnorm_matches_reference,
    batchnorm::batchnorm_backward_matches_finite_differences,
    softmax_xent::softmax_xent_matches_reference,
    softmax_xent::softmax_xent_gradient_matches_finite_differences,
    optim::optimizers_match_reference_for_three_steps,
    optim::optimizers_match_hand_computed_values,
    gather::gather_matches_reference,
    network::every_preset_network_matches_reference,
    shapes::bad_shapes_are_errors,
);
