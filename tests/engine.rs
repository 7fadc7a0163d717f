//! The engine suite (src/selftest): every op against its f64 reference and every
//! backward pass against finite differences, on both engines. Natively (`cargo test`)
//! the GPU engine runs on wgpu's Vulkan backend (lavapipe without a GPU); in the browser
//! (`wasm-pack test --headless --chrome`) on WebGPU. The CPU engine runs in both places.
//! One test per case and engine: `gpu::case` and `cpu::case`.

use wgpu_mnist::selftest::{run_case, CPU_ENGINE};
#[cfg(all(feature = "gpu", not(all(target_arch = "wasm32", target_feature = "relaxed-simd"))))]
use wgpu_mnist::{selftest::GpuEngine, Gpu};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[cfg(all(not(target_arch = "wasm32"), feature = "gpu"))]
fn gpu() -> &'static GpuEngine {
    static GPU: std::sync::OnceLock<GpuEngine> = std::sync::OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = pollster::block_on(Gpu::new()).expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)");
        GpuEngine::new(&gpu)
    })
}

macro_rules! engine_tests {
    ($($case:ident),* $(,)?) => {
        #[cfg(all(not(target_arch = "wasm32"), feature = "gpu"))]
        mod gpu {
            $(
                #[test]
                fn $case() {
                    let report = pollster::block_on(super::run_case(super::gpu(), stringify!($case))).unwrap();
                    println!("{report:?}");
                }
            )*
        }

        #[cfg(not(target_arch = "wasm32"))]
        mod cpu {
            $(
                #[test]
                fn $case() {
                    let report = pollster::block_on(super::run_case(&super::CPU_ENGINE, stringify!($case))).unwrap();
                    println!("{report:?}");
                }
            )*
        }

        // Not in the relaxed-SIMD build (scripts/test's second browser run): relaxed SIMD
        // changes the CPU engine's wasm kernels only, never the WGSL ones.
        #[cfg(all(target_arch = "wasm32", feature = "gpu", not(target_feature = "relaxed-simd")))]
        mod web_gpu {
            use wasm_bindgen_test::*;
            $(
                #[wasm_bindgen_test]
                async fn $case() {
                    let gpu = super::Gpu::new().await.expect("WebGPU adapter");
                    let report = super::run_case(&super::GpuEngine::new(&gpu), stringify!($case)).await.unwrap();
                    web_sys::console::log_1(&format!("{report:?}").into());
                }
            )*
        }

        #[cfg(target_arch = "wasm32")]
        mod web_cpu {
            use wasm_bindgen_test::*;
            $(
                #[wasm_bindgen_test]
                async fn $case() {
                    let report = super::run_case(&super::CPU_ENGINE, stringify!($case)).await.unwrap();
                    web_sys::console::log_1(&format!("{report:?}").into());
                }
            )*
        }
    };
}

wgpu_mnist::for_each_case!(engine_tests);

/// The suite's wasm build is the one asked for: scripts/test runs the CPU cases a second
/// time built with `+relaxed-simd` (EXPECT_RELAXED_SIMD set), where the kernels' multiply-add
/// is `f32x4.relaxed_madd`; this fails if the flags did not reach the build.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn web_cpu_build_has_the_asked_simd() {
    let relaxed = cfg!(target_feature = "relaxed-simd");
    assert_eq!(relaxed, option_env!("EXPECT_RELAXED_SIMD").is_some(), "relaxed SIMD built: {relaxed}");
    web_sys::console::log_1(&wgpu_mnist::cpu::peak::isa_name(wgpu_mnist::cpu::simd::Isa::Simd128).into());
}
