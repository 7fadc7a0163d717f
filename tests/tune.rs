//! The autotuner (src/ops/tune.rs) on wgpu's Vulkan backend (lavapipe without a GPU):
//! it times every candidate of every pass once, a warm cache times nothing, the cache
//! file round-trips, and a malformed one is an error that names the file, not a panic.
#![cfg(all(not(target_arch = "wasm32"), feature = "gpu"))]

use std::path::PathBuf;

use wgpu_mnist::model::{GpuModel, Graph, Spec};
use wgpu_mnist::ops::kernel_cache::KernelCache;

use wgpu_mnist::ops::choice::Kernel;
use wgpu_mnist::{Error, Gpu};

fn gpu() -> Gpu {
    pollster::block_on(Gpu::new()).expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)")
}

/// A fresh file name under the system's temporary directory (never the user's cache).
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wgpu-mnist-test-{}-{name}", std::process::id()))
}

#[test]
fn autotune_times_every_candidate_once_and_a_warm_cache_times_nothing() {
    let gpu = gpu();
    let spec = Spec::preset("pytorch-cnn").unwrap();
    let batch = 3;
    let mut cache = KernelCache::default();
    let mut model = GpuModel::new(&gpu, &spec, 1).unwrap();
    model.kernels.forced_conv = None; // WGPU_MNIST_CONV would skip the convolutions
    let cold = pollster::block_on(model.autotune(batch, &mut cache)).unwrap();
    // conv1: forward and weights (no input gradient below it); conv2 and fc: all three.
    assert_eq!(cold.len(), 2 + 3 + 3, "{cold:?}");
    for t in &cold {
        assert!(!t.cached, "{t:?}");
        let timed: Vec<Kernel> = t.ms.iter().map(|m| m.0).collect();
        // Every candidate that computes the pass: pytorch-cnn's 5x5 convolutions have
        // Winograd for all but the weight gradient.
        let all: Vec<Kernel> = match t.key.starts_with("conv") {
            true => Kernel::CONV.iter().copied().filter(|&k| k != Kernel::Winograd || t.pass != "backward weights").collect(),
            false => Kernel::DENSE.to_vec(),
        };
        assert_eq!(timed, all, "{t:?}");
        assert!(t.ms.iter().all(|m| m.1 > 0.0 && m.1.is_finite()), "{t:?}");
        assert_eq!(model.kernels.chosen[&t.key], t.kernel);
    }
    assert_eq!(cache.len(), cold.len());

    // Through the file, into a fresh model: every choice comes from the cache.
    let path = temp_path("kernels.json");
    cache.save(&path).unwrap();
    let mut loaded = KernelCache::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded, cache);
    let mut again = GpuModel::new(&gpu, &spec, 1).unwrap();
    again.kernels.forced_conv = None;
    let warm = pollster::block_on(again.autotune(batch, &mut loaded)).unwrap();
    assert!(warm.iter().all(|t| t.cached), "{warm:?}");
    assert_eq!(warm.iter().map(|t| t.kernel).collect::<Vec<_>>(), cold.iter().map(|t| t.kernel).collect::<Vec<_>>());
    assert_eq!(loaded, cache, "a warm start adds nothing");
    assert_eq!(again.kernels.chosen, model.kernels.chosen);
    // The graph runs what was chosen.
    Graph::new(&again, batch, Some((&spec.optimizer, &[spec.optimizer.lr()]))).unwrap();
}

#[test]
fn forced_convolutions_are_not_timed() {
    let gpu = gpu();
    let mut model = GpuModel::new(&gpu, &Spec::preset("pytorch-cnn").unwrap(), 1).unwrap();
    model.kernels.forced_conv = Some(Kernel::Tiled);
    let tuned = pollster::block_on(model.autotune(2, &mut KernelCache::default())).unwrap();
    assert!(tuned.iter().all(|t| t.key.starts_with("dense")), "{tuned:?}");
}

#[test]
fn a_missing_cache_file_is_empty_and_a_malformed_one_is_an_error_naming_it() {
    assert!(KernelCache::load(&temp_path("absent.json")).unwrap().is_empty());
    for (name, text) in [("truncated", "{\"version\": 1, \"entries\": {"), ("wrong-type", "[1, 2, 3]"), ("bad-kernel", BAD_KERNEL)] {
        let path = temp_path(name);
        std::fs::write(&path, text).unwrap();
        let result = KernelCache::load(&path);
        std::fs::remove_file(&path).unwrap();
        match result {
            Err(Error::BadFile(m)) => assert!(m.contains(&path.display().to_string()) && m.contains("kernel cache"), "{m}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(KernelCache::from_json(r#"{"version": 0, "entries": {}}"#).unwrap().is_empty(), "an old format is dropped");
}

const BAD_KERNEL: &str = r#"{"version": 1, "entries": {"a | conv forward": {"kernel": "fastest", "ms": []}}}"#;
