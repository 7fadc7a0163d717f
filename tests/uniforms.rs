//! Every uniform block on the Rust side is a `#[repr(C)]` struct that mirrors the WGSL
//! struct of the same name: same fields, same order, same types, padding spelled out. The
//! WGSL side is read from the shader text, so a field added to one side only fails here
//! rather than shifting every later field on the GPU.

use std::mem::size_of;

use wgpu_mnist::benchmark::PeakParams;
use wgpu_mnist::gpu::Uniform;
use wgpu_mnist::ops::batchnorm::BatchNormParams;
use wgpu_mnist::ops::conv2d::Conv2dParams;
use wgpu_mnist::ops::conv2d_winograd::WinogradParams;
use wgpu_mnist::ops::dense::MatmulParams;
use wgpu_mnist::ops::dropout::DropoutParams;
use wgpu_mnist::ops::gather::GatherParams;
use wgpu_mnist::ops::maxpool::PoolParams;
use wgpu_mnist::ops::normalize::NormalizeParams;
use wgpu_mnist::ops::optim::OptimParams;
use wgpu_mnist::ops::reduce::ReduceParams;
use wgpu_mnist::ops::relu::ReluParams;
use wgpu_mnist::ops::softmax_xent::XentParams;

const SHADERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");

/// Shaders whose uniform is still a positional array on the Rust side, each with the
/// reason (none left).
const NOT_YET_MIRRORED: &[&str] = &[];

/// A Rust uniform struct and the shader file that declares the WGSL struct it mirrors.
struct Mirror {
    file: &'static str,
    name: &'static str,
    size: usize,
    fields: &'static [(&'static str, &'static str)],
}

fn mirror<U: Uniform>(file: &'static str) -> Mirror {
    Mirror { file, name: U::NAME, size: size_of::<U>(), fields: U::FIELDS }
}

/// The Rust struct behind each shader's uniform.
fn mirrored() -> Vec<Mirror> {
    vec![
        mirror::<BatchNormParams>("batchnorm.wgsl"),
        mirror::<Conv2dParams>("conv2d_bindings.wgsl"),
        mirror::<WinogradParams>("conv2d_winograd.wgsl"),
        mirror::<DropoutParams>("dropout.wgsl"),
        mirror::<GatherParams>("gather.wgsl"),
        mirror::<MatmulParams>("matmul_bindings.wgsl"),
        mirror::<PoolParams>("maxpool.wgsl"),
        mirror::<NormalizeParams>("normalize.wgsl"),
        mirror::<OptimParams>("optim.wgsl"),
        mirror::<PeakParams>("peak.wgsl"),
        mirror::<ReduceParams>("reduce.wgsl"),
        mirror::<ReluParams>("relu.wgsl"),
        mirror::<XentParams>("softmax_xent.wgsl"),
    ]
}

fn read_shader(file: &str) -> String {
    std::fs::read_to_string(format!("{SHADERS}/{file}")).unwrap_or_else(|e| panic!("reading shaders/{file}: {e}"))
}

/// The fields of `struct name { ... }` in WGSL source, as (name, type), comments removed.
fn wgsl_struct(source: &str, name: &str) -> Option<Vec<(String, String)>> {
    let code: String = source.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n");
    let start = code.find(&format!("struct {name} "))?;
    let body = &code[start..];
    let body = &body[body.find('{')? + 1..body.find('}')?];
    let fields = body
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (n, t) = f.split_once(':').unwrap_or_else(|| panic!("struct {name}: cannot read field '{f}'"));
            (n.trim().to_string(), t.trim().to_string())
        })
        .collect();
    Some(fields)
}

/// The Rust type a WGSL uniform field is mirrored by, and the WGSL (size, alignment) in bytes.
fn rust_type_of(wgsl: &str) -> (String, usize, usize) {
    match wgsl {
        "u32" | "i32" | "f32" => (wgsl.to_string(), 4, 4),
        _ => {
            let (n, scalar) = match wgsl.strip_prefix("vec").and_then(|r| r.split_once('<')) {
                Some((n, s)) => (n.parse::<usize>().unwrap_or(0), s.trim_end_matches('>')),
                None => panic!("the uniform layout test knows no WGSL type '{wgsl}'; teach it"),
            };
            let align = if n == 2 { 8 } else { 16 };
            (format!("[{scalar}; {n}]"), 4 * n, align)
        }
    }
}

/// The name of the struct bound as `var<uniform>` in a shader, if any.
fn uniform_struct_name(source: &str) -> Option<String> {
    let decl = &source[source.find("var<uniform>")?..];
    let ty = decl.split_once(':')?.1.split(';').next()?;
    Some(ty.trim().to_string())
}

#[test]
fn every_uniform_struct_mirrors_its_wgsl_struct_field_by_field() {
    for Mirror { file, name, size: rust_size, fields: rust_fields } in mirrored() {
        let source = read_shader(file);
        let wgsl = wgsl_struct(&source, name).unwrap_or_else(|| panic!("shaders/{file} declares no struct {name}"));
        let wgsl_names: Vec<&str> = wgsl.iter().map(|(n, _)| n.as_str()).collect();
        let rust_names: Vec<&str> = rust_fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(rust_names, wgsl_names, "{name}: field names differ between Rust and shaders/{file}");
        let (mut offset, mut packed, mut align) = (0usize, 0usize, 4usize);
        for ((field, wgsl_type), (_, rust_type)) in wgsl.iter().zip(rust_fields) {
            let (expected, size, field_align) = rust_type_of(wgsl_type);
            assert_eq!(*rust_type, expected, "{name}.{field}: Rust {rust_type} mirrors WGSL {wgsl_type}");
            offset = offset.next_multiple_of(field_align) + size;
            packed += size;
            align = align.max(field_align);
        }
        let wgsl_size = offset.next_multiple_of(align);
        assert_eq!(wgsl_size, packed, "{name} in shaders/{file} has implicit padding; spell it out as _p fields");
        assert_eq!(rust_size, wgsl_size, "{name}: size_of on the Rust side vs the WGSL struct's size");
    }
}

#[test]
fn every_shader_uniform_has_a_mirroring_rust_struct() {
    let mirrored = mirrored();
    let mut files: Vec<String> = std::fs::read_dir(SHADERS)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".wgsl"))
        .collect();
    files.sort();
    for file in files {
        let Some(name) = uniform_struct_name(&read_shader(&file)) else { continue };
        let listed = mirrored.iter().any(|m| m.name == name && wgsl_struct(&read_shader(m.file), m.name).is_some());
        assert!(
            listed || NOT_YET_MIRRORED.contains(&file.as_str()),
            "shaders/{file} binds a uniform {name} that no Rust struct mirrors; declare one with gpu::uniform! and list it here"
        );
    }
}
