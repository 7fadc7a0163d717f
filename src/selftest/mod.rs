//! The engine's test suite, written once and run everywhere: by `cargo test` (wgpu on
//! Vulkan), by `wasm-pack test` (WebGPU in headless Chromium), and by the web page's
//! self-test. Each case runs a GPU op on fresh random inputs over a table of awkward
//! shapes, with its outputs poisoned with NaN first, and compares it with the CPU
//! reference; each backward pass is also checked against central finite differences.

mod cases;
mod check;

pub use cases::{run_case, CASES};
pub use check::{relative_error, Report, Rng, FD_TOLERANCE, TOLERANCE};
