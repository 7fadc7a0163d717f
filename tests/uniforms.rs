//! Every uniform block on the Rust side is a `#[repr(C)]` struct that mirrors the WGSL
//! struct of the same name: same fields, same order, same types, padding spelled out. The
//! WGSL side is read from the shader text, so a field added to one side only fails here
//! rather than shifting every later field on the GPU.
#![cfg(feature = "gpu")]

use std::path::Path;

const SHADERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
const OPS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ops");

/// A Rust uniform struct, as its `uniform!` declaration in src/ops/ spells it, and the
/// shader files its module includes (one of them declares the WGSL struct it mirrors).
struct Mirror {
    module: String,
    name: String,
    fields: Vec<(String, String)>,
    shaders: Vec<String>,
}

impl Mirror {
    /// The included shader that declares the WGSL struct of this name.
    fn file(&self) -> Option<&str> {
        self.shaders.iter().map(String::as_str).find(|f| wgsl_struct(&read_shader(f), &self.name).is_some())
    }

    /// `size_of` of the Rust struct: `uniform!` makes it `#[repr(C)]` of 4-byte scalars and
    /// arrays of them, so the size is the sum of its fields'.
    fn rust_size(&self) -> usize {
        self.fields.iter().map(|(_, t)| rust_size_of(t)).sum()
    }
}

fn rust_size_of(ty: &str) -> usize {
    match ty.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.split_once(';')) {
        Some((scalar, n)) => rust_size_of(scalar.trim()) * n.trim().parse::<usize>().expect("an array length"),
        None if ["u32", "i32", "f32"].contains(&ty) => 4,
        None => panic!("the uniform layout test knows no Rust type '{ty}'; teach it"),
    }
}

/// Every `uniform!` declaration under src/ops/, read from the source: a new op's uniform
/// is checked without being listed anywhere.
fn mirrored() -> Vec<Mirror> {
    let mut out = Vec::new();
    let mut files: Vec<_> =
        std::fs::read_dir(OPS).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "rs")).collect();
    files.sort();
    for path in files {
        let code: String =
            std::fs::read_to_string(&path).unwrap().lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n");
        let module = path.file_name().unwrap().to_string_lossy().to_string();
        let shaders = included_shaders(&code);
        let mut rest = code.as_str();
        while let Some(at) = rest.find("uniform! {") {
            rest = &rest[at..];
            let decl = &rest[rest.find("pub struct ").expect("uniform! declares a pub struct") + "pub struct ".len()..];
            let name = decl[..decl.find('{').unwrap()].trim().to_string();
            let body = &decl[decl.find('{').unwrap() + 1..decl.find('}').unwrap()];
            let fields = fields(body, &name);
            out.push(Mirror { module: module.clone(), name, fields, shaders: shaders.clone() });
            rest = &rest["uniform! {".len()..];
        }
    }
    assert!(out.len() >= 13, "found only {} uniform! declarations under src/ops/: is the reader broken?", out.len());
    out
}

/// The shader files a module's code includes (`include_str!("../../shaders/x.wgsl")`).
fn included_shaders(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("shaders/") {
        let name: String = rest[at + "shaders/".len()..].chars().take_while(|c| *c != '"').collect();
        if name.ends_with(".wgsl") && Path::new(SHADERS).join(&name).exists() && !found.contains(&name) {
            found.push(name);
        }
        rest = &rest[at + 1..];
    }
    found
}

fn read_shader(file: &str) -> String {
    std::fs::read_to_string(format!("{SHADERS}/{file}")).unwrap_or_else(|e| panic!("reading shaders/{file}: {e}"))
}

/// The fields of `struct name { ... }` in WGSL source, as (name, type), comments removed.
fn wgsl_struct(source: &str, name: &str) -> Option<Vec<(String, String)>> {
    let code: String = source.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n");
    let start = code.find(&format!("struct {name} "))?;
    let body = &code[start..];
    Some(fields(&body[body.find('{')? + 1..body.find('}')?], name))
}

/// The fields of a struct's body (`a: u32, b: f32,`), as (name, type), in Rust or WGSL.
fn fields(body: &str, name: &str) -> Vec<(String, String)> {
    body.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (n, t) = f.split_once(':').unwrap_or_else(|| panic!("struct {name}: cannot read field '{f}'"));
            (n.trim().to_string(), t.trim().to_string())
        })
        .collect()
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
    for m in mirrored() {
        let (name, rust_fields, rust_size) = (&m.name, &m.fields, m.rust_size());
        let file = m.file().unwrap_or_else(|| panic!("{}: no shader it includes ({:?}) declares struct {name}", m.module, m.shaders));
        let wgsl = wgsl_struct(&read_shader(file), name).expect("found above");
        let wgsl_names: Vec<&str> = wgsl.iter().map(|(n, _)| n.as_str()).collect();
        let rust_names: Vec<&str> = rust_fields.iter().map(|(n, _)| n.as_str()).collect();
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
        let declared = mirrored.iter().any(|m| m.name == name && m.file().is_some());
        assert!(declared, "shaders/{file} binds a uniform {name} that no Rust struct mirrors; declare one with gpu::uniform! in its op");
    }
}
