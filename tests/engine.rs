//! The engine suite (src/selftest): every op against its CPU reference and every
//! backward pass against finite differences. Natively (`cargo test`) it runs on wgpu's
//! Vulkan backend (lavapipe without a GPU); in the browser (`wasm-pack test --headless
//! --chrome`) on WebGPU. One test per case, the same cases on both.

use wgpu_mnist::selftest::run_case;
use wgpu_mnist::Gpu;

#[cfg(not(target_arch = "wasm32"))]
fn gpu() -> &'static Gpu {
    static GPU: std::sync::OnceLock<Gpu> = std::sync::OnceLock::new();
    GPU.get_or_init(|| pollster::block_on(Gpu::new()).expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)"))
}

macro_rules! engine_tests {
    ($($case:ident),* $(,)?) => {
        #[cfg(not(target_arch = "wasm32"))]
        mod native {
            $(
                #[test]
                fn $case() {
                    let report = pollster::block_on(super::run_case(super::gpu(), stringify!($case))).unwrap();
                    println!("{report:?}");
                }
            )*
        }

        #[cfg(target_arch = "wasm32")]
        mod web {
            use wasm_bindgen_test::*;
            wasm_bindgen_test_configure!(run_in_browser);
            $(
                #[wasm_bindgen_test]
                async fn $case() {
                    let gpu = super::Gpu::new().await.expect("WebGPU adapter");
                    let report = super::run_case(&gpu, stringify!($case)).await.unwrap();
                    web_sys::console::log_1(&format!("{report:?}").into());
                }
            )*
        }
    };
}

engine_tests!(
    conv2d_matches_reference,
    conv2d_backward_matches_finite_differences,
    maxpool_matches_reference,
    maxpool_backward_matches_finite_differences,
    matmul_matches_reference,
    dense_matches_reference,
    dense_backward_matches_finite_differences,
    relu_matches_reference,
    relu_backward_matches_finite_differences,
    dropout_matches_reference,
    dropout_backward_matches_finite_differences,
    batchnorm_matches_reference,
    batchnorm_backward_matches_finite_differences,
    softmax_xent_matches_reference,
    softmax_xent_gradient_matches_finite_differences,
    optimizers_match_reference_for_three_steps,
    optimizers_match_hand_computed_values,
    gather_matches_reference,
    every_preset_network_matches_reference,
    bad_shapes_are_errors,
);

/// The macro's list and the suite's list must not drift apart.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn every_case_has_a_test() {
    let source = include_str!("engine.rs");
    for case in wgpu_mnist::selftest::CASES {
        assert!(source.contains(&format!("    {case},")), "case {case} has no test");
    }
}
