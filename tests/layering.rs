//! The architecture, held by a test: each top-level module of src/ may import only the
//! modules below it (README, "Architecture"). Dependencies run one way: op descriptions
//! -> {gpu -> ops, cpu, reference} -> model -> train -> cli/web, with selftest beside; no
//! production code imports the test suite but the page, whose self-test button runs it.
//! The test reads every `crate::` path (in the binary, `wgpu_mnist::`) outside comments.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module and what it may import (besides itself). A module missing here fails the
/// test, so a new one has to take its place in the diagram.
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("rng", &[]),
    ("clock", &[]),
    ("desc", &["error"]),
    ("data", &["error", "desc"]),
    ("preprocess", &["error"]),
    ("gpu", &["error", "clock"]),
    ("ops", &["error", "clock", "rng", "desc", "gpu"]),
    ("cpu", &["error", "clock", "rng", "desc"]),
    ("reference", &["error", "rng", "desc"]),
    ("model", &["error", "clock", "rng", "desc", "data", "gpu", "ops", "cpu", "reference"]),
    ("train", &["error", "clock", "rng", "desc", "data", "model"]),
    ("benchmark", &["error", "clock", "desc", "data", "model", "train"]),
    ("selftest", &["error", "clock", "rng", "desc", "data", "gpu", "ops", "cpu", "reference", "model"]),
    (
        "web",
        &[
            "error",
            "clock",
            "rng",
            "desc",
            "data",
            "preprocess",
            "gpu",
            "ops",
            "cpu",
            "reference",
            "model",
            "train",
            "benchmark",
            "selftest",
        ],
    ),
    // The binary (src/main.rs, src/cli/), through the library's public paths.
    ("cli", &["error", "clock", "rng", "desc", "data", "preprocess", "gpu", "ops", "cpu", "reference", "model", "train", "benchmark"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to ("cli" for the binary's files).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    match first.strip_suffix(".rs") {
        Some("main") => "cli".into(),
        Some(name) => name.into(),
        None => first,
    }
}

/// Every module named after `prefix` (e.g. "crate::") in the code of `text`, comments left out.
fn imports(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

#[test]
fn every_module_imports_only_what_lies_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" {
            continue;
        }
        let Some(may) = allowed.get(module.as_str()) else {
            wrong.push(format!("{}: module `{module}` has no place in ALLOWED (tests/layering.rs)", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let prefix = if module == "cli" { "wgpu_mnist::" } else { "crate::" };
        for used in imports(&text, prefix) {
            // `crate::Error` and friends are re-exports of `error` (and, with the GPU engine, `gpu`).
            let used = match used.as_str() {
                "for_each_case" => "selftest".to_string(),
                _ => used,
            };
            if used != module && !may.contains(&used.as_str()) {
                wrong.push(format!("{}: `{module}` imports `{used}`", file.strip_prefix(&src).unwrap().display()));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the direction of the architecture:\n{}", wrong.join("\n"));
}

/// The test above must be able to fail: it finds a wrong-way import in a sample.
#[test]
fn the_layering_check_sees_an_upward_import() {
    let sample = "use crate::desc::conv2d::Conv2dShape;\nuse crate::model::Net; // upward from cpu\n// crate::train in a comment\n";
    let found = imports(sample, "crate::");
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["desc", "model"]);
}
