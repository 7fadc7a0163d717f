//! Property-based fuzzing (proptest) of everything that reads outside input: the IDX
//! files, the safetensors reader (model files and checkpoints) and the drawing
//! preprocessor. Each gets arbitrary bytes and structured, nearly-valid inputs with one
//! thing wrong, and must answer Ok or an Err that names the file, never panic; what it
//! allocates is bounded by the input (the reader checks sizes before it allocates).
//! 10,000 cases per parser by default; FUZZ_CASES=N runs more (see the README's
//! "Reliability" for the longest run).
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use serde_json::json;
use wgpu_mnist::data::idx::{parse_images, parse_labels};
use wgpu_mnist::model::{safetensors, Layer, Spec};
use wgpu_mnist::preprocess::preprocess;
use wgpu_mnist::train::checkpoint;

fn config() -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Errors must say which file they are about.
fn names_the_file<T>(result: Result<T, wgpu_mnist::Error>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert!(e.to_string().contains("fuzzed.bin"), "{e}");
    }
    Ok(())
}

/// An IDX file: the right or a wrong magic number, sizes near the body's (or huge), and a
/// body of some length.
fn idx_file(magic: u32, dims: usize) -> impl Strategy<Value = Vec<u8>> {
    let size = prop_oneof![0u32..40, Just(u32::MAX), any::<u32>()];
    (prop_oneof![Just(magic), any::<u32>()], prop::collection::vec(size, dims), prop::collection::vec(any::<u8>(), 0..600), any::<bool>())
        .prop_map(move |(m, sizes, mut body, exact)| {
            if exact {
                let n = sizes.iter().fold(1usize, |n, &d| n.saturating_mul(d as usize));
                body.resize(n.min(4096), 7);
            }
            let mut out = m.to_be_bytes().to_vec();
            sizes.iter().for_each(|d| out.extend(d.to_be_bytes()));
            out.extend(body);
            out
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn idx_parsers_answer_every_input_without_panicking(images in idx_file(0x803, 3), labels in idx_file(0x801, 1), junk in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(i) = parse_images("fuzzed.bin", &images) {
            prop_assert_eq!(i.pixels.len(), i.count * i.rows * i.cols);
        }
        names_the_file(parse_images("fuzzed.bin", &images))?;
        if let Ok(l) = parse_labels("fuzzed.bin", &labels) {
            prop_assert!(l.iter().all(|&d| d <= 9));
        }
        names_the_file(parse_labels("fuzzed.bin", &labels))?;
        names_the_file(parse_images("fuzzed.bin", &junk))?;
        names_the_file(parse_labels("fuzzed.bin", &junk))?;
    }
}

/// A safetensors header of a few tensors, each with some field wrong (or none): dtype,
/// shape (huge, overflowing, negative), offsets (overlapping, gapped, past the end), a
/// header length that lies (up to u64::MAX), non-UTF-8, and NaN values in the data.
fn safetensors_file() -> impl Strategy<Value = Vec<u8>> {
    let dim = prop_oneof![0u64..6, Just(u64::MAX), Just(1u64 << 62), Just(usize::MAX as u64 / 4 + 1)];
    let tensor = (
        prop::sample::select(vec!["F32", "F16", "I64", "f32", ""]),
        prop::collection::vec(dim, 0..4),
        prop::collection::vec(prop_oneof![0u64..200, Just(u64::MAX)], 2),
        prop::sample::select(vec!["fc.weight", "fc.bias", "conv1.weight", "optimizer.state1.fc.bias", "__metadata__"]),
    );
    (
        prop::collection::vec(tensor, 0..4),
        prop::collection::vec(any::<u8>(), 0..160),
        prop_oneof![Just(None), Just(Some(u64::MAX)), (0u64..400).prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(|(tensors, data, claimed, junk_utf8)| {
            let mut header = serde_json::Map::new();
            for (dtype, shape, offsets, name) in tensors {
                header.insert(name.to_string(), json!({ "dtype": dtype, "shape": shape, "data_offsets": offsets }));
            }
            let mut text = serde_json::to_vec(&header).unwrap();
            if junk_utf8 {
                text.insert(text.len() / 2, 0xff);
            }
            let mut out = claimed.unwrap_or(text.len() as u64).to_le_bytes().to_vec();
            out.extend(text);
            out.extend(data);
            out
        })
}

/// A tiny but real model file and checkpoint to mutate: Flatten, Dense 10 (7,850
/// parameters) with Adam's state.
fn valid_files() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let mut spec = Spec::preset("lenet").unwrap();
        spec.layers = vec![Layer::Normalize { mean: 0.1307, std: 0.3081 }, Layer::Flatten, Layer::Dense { out: 10 }];
        let idx = |magic: u32, sizes: &[u32], body: Vec<u8>| {
            let mut out = magic.to_be_bytes().to_vec();
            sizes.iter().for_each(|d| out.extend(d.to_be_bytes()));
            out.extend(body);
            out
        };
        let images = |n: u32| idx(0x803, &[n, 28, 28], (0..n as usize * 784).map(|i| (i * 7 % 251) as u8).collect());
        let labels = |n: u32| idx(0x801, &[n], (0..n as u8).map(|i| i % 10).collect());
        let (a, b, c, d) = (images(64), labels(64), images(10), labels(10));
        let data = wgpu_mnist::data::Mnist::from_bytes([&a, &b, &c, &d]).unwrap();
        let mut config = wgpu_mnist::train::TrainConfig::from_spec(&spec, 1);
        config.batch = 16;
        let mut t =
            wgpu_mnist::train::Trainer::new(wgpu_mnist::model::Net::new(&wgpu_mnist::model::Engine::Cpu, &spec, 1).unwrap(), config, &data)
                .unwrap();
        t.begin_epoch();
        pollster::block_on(t.train_steps(2)).unwrap();
        let model = safetensors::to_bytes(&spec, &pollster::block_on(t.model.read_tensors()).unwrap());
        (model, pollster::block_on(checkpoint::to_bytes(&t)).unwrap())
    })
}

/// Mutations of a valid file: bytes overwritten, the file cut short, the header length
/// changed.
fn mutated(which: usize) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        prop::option::of(any::<prop::sample::Index>()),
        prop::option::of(any::<u64>()),
    )
        .prop_map(move |(writes, cut, header_len)| {
            let files = valid_files();
            let mut bytes = if which == 0 { files.0.clone() } else { files.1.clone() };
            // Mostly into the header, where the structure is.
            let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            for (at, value) in writes {
                let i = at.index(header.min(bytes.len()));
                bytes[i] = value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            if let (Some(len), true) = (header_len, bytes.len() >= 8) {
                bytes[..8].copy_from_slice(&len.to_le_bytes());
            }
            bytes
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_safetensors_reader_answers_every_input_without_panicking(file in safetensors_file(), junk in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(raw) = safetensors::read("fuzzed.bin", &file) {
            let data: usize = raw.tensors.values().map(|(_, v)| v.len() * 4).sum();
            prop_assert!(data <= file.len());
        }
        names_the_file(safetensors::read("fuzzed.bin", &file).map(|_| ()))?;
        names_the_file(safetensors::from_bytes("fuzzed.bin", &file))?;
        names_the_file(safetensors::from_bytes("fuzzed.bin", &junk))?;
    }

    #[test]
    fn model_files_and_checkpoints_with_damage_are_refused_or_read_whole(model in mutated(0), ckpt in mutated(1)) {
        if let Ok((_, values)) = safetensors::from_bytes("fuzzed.bin", &model) {
            prop_assert!(values.iter().flatten().all(|v| v.is_finite()));
        }
        names_the_file(safetensors::from_bytes("fuzzed.bin", &model))?;
        if let Ok(c) = checkpoint::parse("fuzzed.bin", &ckpt) {
            prop_assert!(c.optimizer.iter().flatten().flatten().all(|v| v.is_finite()));
        }
        names_the_file(checkpoint::parse("fuzzed.bin", &ckpt).map(|_| ()))?;
    }

    /// Drawings: empty, all ink, one pixel, NaN and infinities, values outside 0..1, sizes
    /// that do not match the values, huge sizes.
    #[test]
    fn the_drawing_preprocessor_answers_every_drawing(
        w in prop_oneof![0usize..64, Just(usize::MAX), Just(1usize << 40)],
        h in prop_oneof![0usize..64, Just(usize::MAX), Just(3usize)],
        fill in prop::sample::select(vec![0.0f32, 1.0, f32::NAN, f32::INFINITY, -3.0, 0.5]),
        spots in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![any::<f32>(), Just(f32::NAN), 0f32..1.0]), 0..20),
        mismatch in prop_oneof![Just(0usize), 1usize..3],
    ) {
        let n = w.checked_mul(h).filter(|&n| n <= 1 << 16).unwrap_or(16);
        let mut ink = vec![fill; n + mismatch];
        for (at, v) in spots {
            if !ink.is_empty() {
                let i = at.index(ink.len());
                ink[i] = v;
            }
        }
        match preprocess(&ink, w, h) {
            Ok(Some(img)) => prop_assert!(img.len() == 784 && img.iter().all(|v| (0.0..=1.0).contains(v)), "{:?}", &img[..8]),
            Ok(None) => {}
            Err(e) => prop_assert!(e.contains("drawing"), "{e}"),
        }
    }
}
