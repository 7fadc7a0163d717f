//! The engine's test suite, written once and run everywhere: by `cargo test` (wgpu on
//! Vulkan, and the CPU engine), by `wasm-pack test` (WebGPU and the CPU engine in
//! headless Chromium), and by the web page's self-test. Each case runs an engine's op on
//! fresh random inputs over a table of awkward shapes, with its outputs poisoned with NaN
//! first, and compares it with the f64 reference; each backward pass is also checked
//! against central finite differences.

mod check;
mod engine;
#[cfg(feature = "gpu")]
mod engine_gpu;

pub use check::{relative_error, Report, Rng, FD_TOLERANCE, NETWORK_TOLERANCE, TOLERANCE};
pub use engine::{CpuEngine, OpEngine, Widen, CPU_ENGINE};
#[cfg(feature = "gpu")]
pub use engine_gpu::GpuEngine;

/// The suite, from the list build.rs reads off src/selftest/cases/ (one file per op,
/// mirroring src/ops/; each `pub async fn` generic over the engine is a case, each
/// `pub trait Op` the op as an engine runs it). It makes the case modules, `CASES`,
/// `run_case`, `SuiteEngine` and (through `for_each_case!`) the `#[test]` functions of
/// tests/engine.rs.
macro_rules! suite {
    (ops: [$($op:ident),* $(,)?], cases: [$($module:ident: [$($case:ident),* $(,)?]),* $(,)?] $(,)?) => {
        /// An engine the suite can test: every op of the suite on it.
        pub trait SuiteEngine: OpEngine $(+ cases::$op::Op)* {}
        impl<T: OpEngine $(+ cases::$op::Op)*> SuiteEngine for T {}

        /// Every case, by name (the test runners make one test of each, per engine).
        pub const CASES: &[&str] = &[$($(stringify!($case)),*),*];

        /// Runs one case on fresh random inputs; the error names the seed that reproduces it.
        pub async fn run_case<E: SuiteEngine>(engine: &E, name: &str) -> Result<Report, String> {
            let seed = check::fresh_seed();
            let rng = &mut Rng::new(seed);
            let result = match name {
                $($(stringify!($case) => cases::$module::$case(engine, rng).await,)*)*
                other => Err(format!("no case named {other}")),
            };
            result.map_err(|e| format!("{} engine: {e} (seed {seed})", engine.name()))
        }

        /// Calls `$m!(case, case, ...)` with every case: how test files get one test each.
        #[macro_export]
        macro_rules! for_each_case {
            ($m:ident) => { $m!($($($case),*),*); };
        }
    };
}

/// The case modules: every file of src/selftest/cases/ (automod).
mod cases {
    automod::dir!(pub "src/selftest/cases");
}

include!(concat!(env!("OUT_DIR"), "/suite.rs"));
