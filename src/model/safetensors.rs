//! Models as safetensors files: PyTorch-style names and shapes (`conv1.weight` as
//! [out, in, kh, kw], `fc.weight` as [out, in]), F32 little-endian, and the network spec
//! as JSON in the metadata, so the file loads back here and into the same network in
//! PyTorch (`safetensors.torch.load_file`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{plan, Spec, Tensor};
use crate::error::Error;

/// Serializes tensors (in state-dict order) and the spec.
pub fn to_bytes(spec: &Spec, tensors: &[(Tensor, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({ "format": "pt", "spec": serde_json::to_string(spec).unwrap() }));
    let mut offset = 0usize;
    for (t, v) in tensors {
        let end = offset + v.len() * 4;
        header.insert(t.name.clone(), json!({ "dtype": "F32", "shape": t.shape, "data_offsets": [offset, end] }));
        offset = end;
    }
    let mut text = serde_json::to_string(&Value::Object(header)).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text.as_bytes());
    for (_, v) in tensors {
        out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    }
    out
}

/// Parses a file: its spec and each expected tensor's values, in the order of the
/// spec's state dict. Checks names, shapes, dtype, sizes and that every value is finite.
pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<(Spec, Vec<Vec<f32>>), Error> {
    let bad = |what: String| Error::BadFile(format!("{file}: {what}"));
    if bytes.len() < 8 {
        return Err(bad("too short to be a safetensors file".into()));
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    if header_len > (bytes.len() - 8) as u64 || header_len > 10_000_000 {
        return Err(bad(format!("its header claims {header_len} bytes, more than the file has: not a safetensors file, or truncated")));
    }
    let header: BTreeMap<String, Value> =
        serde_json::from_slice(&bytes[8..8 + header_len as usize]).map_err(|e| bad(format!("the header is not valid JSON ({e})")))?;
    let data = &bytes[8 + header_len as usize..];
    let spec_json = header
        .get("__metadata__")
        .and_then(|m| m.get("spec"))
        .and_then(|s| s.as_str())
        .ok_or_else(|| bad("no network spec in its metadata (was it written by wgpu-mnist?)".into()))?;
    let spec: Spec = serde_json::from_str(spec_json).map_err(|e| bad(format!("the network spec in its metadata is invalid ({e})")))?;
    let layers = plan(&spec).map_err(|e| bad(format!("its network does not build ({e})")))?;
    let expected: Vec<(String, Vec<usize>)> = layers.iter().flat_map(|l| l.tensors()).map(|(n, s, _)| (n, s)).collect();
    let present = header.keys().filter(|k| *k != "__metadata__").count();
    if present != expected.len() {
        return Err(bad(format!("it has {present} tensors, the network needs {}", expected.len())));
    }
    let mut values = Vec::new();
    for (name, shape) in expected {
        let entry = header.get(&name).ok_or_else(|| bad(format!("tensor '{name}' is missing")))?;
        if entry.get("dtype").and_then(|d| d.as_str()) != Some("F32") {
            return Err(bad(format!("tensor '{name}' is not F32")));
        }
        let got: Vec<usize> = entry
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| bad(format!("tensor '{name}' has no shape")))?;
        if got != shape {
            return Err(bad(format!("tensor '{name}' has shape {got:?}, the network needs {shape:?}")));
        }
        let offsets: [usize; 2] = entry
            .get("data_offsets")
            .and_then(|o| serde_json::from_value(o.clone()).ok())
            .ok_or_else(|| bad(format!("tensor '{name}' has no data offsets")))?;
        let n: usize = shape.iter().product();
        if offsets[1] < offsets[0] || offsets[1] - offsets[0] != n * 4 || offsets[1] > data.len() {
            return Err(bad(format!("tensor '{name}' has data offsets {offsets:?} that do not fit its shape or the file (truncated?)")));
        }
        let v: Vec<f32> = data[offsets[0]..offsets[1]].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!("tensor '{name}' holds a non-finite value ({}) at {i}", v[i])));
        }
        values.push(v);
    }
    Ok((spec, values))
}
