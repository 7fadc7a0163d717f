//! The engine suite (src/selftest): every op against its f64 reference and every
//! backward pass against finite differences, on both engines. Natively (`cargo test`)
//! the GPU engine runs on wgpu's Vulkan backend (lavapipe without a GPU); in the browser
//! (`wasm-pack test --headless --chrome`) on WebGPU. The CPU engine runs in both places.
//! One test per case and engine: `gpu::case` and `cpu::case`.

use wgpu_mnist::selftest::{run_case, CPU_ENGINE};
#[cfg(feature = "gpu")]
use wgpu_mnist::{selftest::GpuEngine, Gpu};

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

        #[cfg(all(target_arch = "wasm32", feature = "gpu"))]
        mod web_gpu {
            use wasm_bindgen_test::*;
            wasm_bindgen_test_configure!(run_in_browser);
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
