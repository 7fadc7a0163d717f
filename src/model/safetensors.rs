//! Models as safetensors files: PyTorch-style names and shapes (`conv1.weight` as
//! [out, in, kh, kw], `fc.weight` as [out, in]), F32 little-endian, and the network spec
//! as JSON in the metadata, so the file loads back here and into the same network in
//! PyTorch (`safetensors.torch.load_file`). A checkpoint (`train::checkpoint`) is the
//! same file with the optimizer's state as extra tensors named `optimizer.*`.

use std::collections::BTreeMap;

use safetensors::tensor::{Metadata, SafeTensorError, TensorInfo};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{plan, Spec, Tensor};
use crate::error::Error;

/// The prefix of a checkpoint's optimizer-state tensors, which a model file may carry.
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

/// Headers above this are refused before they are parsed (a model's header is a few KiB).
const MAX_HEADER: u64 = 10_000_000;

/// A parsed file: its metadata strings and every tensor (shape, values), by name.
pub struct Raw {
    pub metadata: BTreeMap<String, String>,
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

/// Serializes named F32 tensors, in the order given, with string metadata.
pub fn write(metadata: &[(&str, String)], tensors: &[(String, Vec<usize>, &[f32])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, Value> = metadata.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
    header.insert("__metadata__".into(), Value::Object(meta));
    let mut offset = 0usize;
    for (name, shape, v) in tensors {
        let end = offset + v.len() * 4;
        header.insert(name.clone(), json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, end] }));
        offset = end;
    }
    let mut text = serde_json::to_string(&Value::Object(header)).expect("a JSON map serializes");
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text.as_bytes());
    for (_, _, v) in tensors {
        out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    }
    out
}

/// Parses any safetensors file of F32 tensors, checking what a malformed or hostile file
/// could get wrong: the header's length and JSON, each tensor's dtype, shape (no
/// overflow) and byte range, and that the ranges tile the data exactly (no gaps, no
/// overlaps, nothing past the end). Nothing is allocated beyond the file's own size.
pub fn read(file: &str, bytes: &[u8]) -> Result<Raw, Error> {
    // Each tensor entry is decoded as the `safetensors` crate's `TensorInfo`, and the set is
    // validated by its `Metadata` (ranges tiling the data from byte 0 with no gap or
    // overlap, each as long as its dtype and shape say, overflow-checked): the code that
    // Python's `safetensors.torch.load_file` runs, so what loads here loads in PyTorch. Ours
    // still, where the crate's checks are weaker or its errors vaguer: the length prefix
    // against the file and our 10 MB limit (its is 100 MB) before anything is parsed, F32
    // only, the `__metadata__` strings, each tensor's size against its range (so the error
    // names it), overlap or gap said apart, and the last range's end against the file's.
    // `SafeTensors::read_metadata` is not called: it adds the ranges' end, 8 and the header
    // length unchecked, and an 862-byte header of eight 2^61-byte tensors panicked there
    // ("attempt to add with overflow") in a debug build.
    let bad = |what: String| Error::BadFile(format!("{file}: {what}"));
    if bytes.len() < 8 {
        return Err(bad("too short to be a safetensors file".into()));
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if header_len > (bytes.len() - 8) as u64 || header_len > MAX_HEADER {
        return Err(bad(format!("its header claims {header_len} bytes, more than the file has: not a safetensors file, or truncated")));
    }
    let (header, data) = bytes[8..].split_at(header_len as usize);
    let header: BTreeMap<String, Value> = serde_json::from_slice(header).map_err(|e| bad(format!("the header is not valid JSON ({e})")))?;
    let mut metadata = BTreeMap::new();
    let mut infos = Vec::new();
    for (name, entry) in header {
        if name == "__metadata__" {
            let map = entry.as_object().ok_or_else(|| bad("its metadata is not a JSON object".into()))?;
            for (k, v) in map {
                let v = v.as_str().ok_or_else(|| bad(format!("metadata '{k}' is not a string")))?;
                metadata.insert(k.clone(), v.to_string());
            }
            continue;
        }
        if entry.get("dtype").and_then(Value::as_str) != Some("F32") {
            return Err(bad(format!("tensor '{name}' is not F32")));
        }
        let info = TensorInfo::deserialize(&entry).map_err(|e| bad(format!("tensor '{name}' has no valid shape or data offsets ({e})")))?;
        let bytes_needed = info
            .shape
            .iter()
            .try_fold(4usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor '{name}' has shape {:?}, too large to address", info.shape)))?;
        let (start, end) = info.data_offsets;
        if end < start || end - start != bytes_needed {
            return Err(bad(format!("tensor '{name}' has data offsets [{start}, {end}] that do not fit its shape {:?}", info.shape)));
        }
        infos.push((name, info));
    }
    // `Metadata::new` wants the entries in the order of their offsets.
    infos.sort_by_key(|(_, info)| info.data_offsets);
    let laid_out = Metadata::new(None, infos.clone()).map_err(|e| match e {
        SafeTensorError::InvalidOffset(name) => {
            let at = infos.iter().position(|(n, _)| *n == name).unwrap_or(0);
            let start = infos.get(at).map_or(0, |(_, info)| info.data_offsets.0);
            let next = if at == 0 { 0 } else { infos[at - 1].1.data_offsets.1 };
            let how = if start < next { "overlaps the tensor before it" } else { "leaves a gap before it" };
            bad(format!("tensor '{name}' starts at byte {start}, which {how}: the file is corrupt"))
        }
        e => bad(format!("its tensors do not lay out in the data ({e}): the file is corrupt")),
    })?;
    let end = laid_out.data_len();
    if end > data.len() {
        return Err(bad(format!("its tensors need {end} bytes of data, it has {}: truncated", data.len())));
    }
    if end < data.len() {
        return Err(bad(format!("{} bytes after the last tensor belong to none: the file is corrupt", data.len() - end)));
    }
    let mut tensors = BTreeMap::new();
    for (name, info) in infos {
        let (start, end) = info.data_offsets;
        let range = data.get(start..end).ok_or_else(|| bad(format!("tensor '{name}' lies outside the file: truncated")))?;
        let values = range.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        tensors.insert(name, (info.shape, values));
    }
    Ok(Raw { metadata, tensors })
}

/// Serializes a model: its tensors (in state-dict order) and the spec.
pub fn to_bytes(spec: &Spec, tensors: &[(Tensor, Vec<f32>)]) -> Vec<u8> {
    let named: Vec<(String, Vec<usize>, &[f32])> = tensors.iter().map(|(t, v)| (t.name.clone(), t.shape.clone(), v.as_slice())).collect();
    write(&model_metadata(spec), &named)
}

/// The metadata of a model file.
pub fn model_metadata(spec: &Spec) -> Vec<(&'static str, String)> {
    vec![("format", "pt".into()), ("spec", serde_json::to_string(spec).expect("a spec serializes"))]
}

/// Parses a model file: its spec and each expected tensor's values, in the order of the
/// spec's state dict. Checks names, shapes and that every value is finite; a checkpoint's
/// optimizer tensors may be present and are left to `train::checkpoint`.
pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<(Spec, Vec<Vec<f32>>), Error> {
    let raw = read(file, bytes)?;
    model_of(file, &raw)
}

/// The spec and the model's tensors of a parsed file (see `from_bytes`).
pub fn model_of(file: &str, raw: &Raw) -> Result<(Spec, Vec<Vec<f32>>), Error> {
    let bad = |what: String| Error::BadFile(format!("{file}: {what}"));
    let spec_json =
        raw.metadata.get("spec").ok_or_else(|| bad("no network spec in its metadata (was it written by wgpu-mnist?)".into()))?;
    let spec: Spec = serde_json::from_str(spec_json).map_err(|e| bad(format!("the network spec in its metadata is invalid ({e})")))?;
    let layers = plan(&spec).map_err(|e| bad(format!("its network does not build ({e})")))?;
    let expected: Vec<(String, Vec<usize>)> = layers.iter().flat_map(|l| l.tensors()).map(|(n, s, _)| (n, s)).collect();
    let present = raw.tensors.keys().filter(|k| !k.starts_with(OPTIMIZER_PREFIX)).count();
    if present != expected.len() {
        return Err(bad(format!("it has {present} tensors, the network needs {}", expected.len())));
    }
    let mut values = Vec::new();
    for (name, shape) in expected {
        let (got, v) = raw.tensors.get(&name).ok_or_else(|| bad(format!("tensor '{name}' is missing")))?;
        if *got != shape {
            return Err(bad(format!("tensor '{name}' has shape {got:?}, the network needs {shape:?}")));
        }
        finite(file, &name, v)?;
        values.push(v.clone());
    }
    Ok((spec, values))
}

/// An error naming the first non-finite value of a tensor, if there is one.
pub fn finite(file: &str, name: &str, v: &[f32]) -> Result<(), Error> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::BadFile(format!("{file}: tensor '{name}' holds a non-finite value ({}) at {i}", v[i]))),
        None => Ok(()),
    }
}
