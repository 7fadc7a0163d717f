//! The autotuner's memory: the kernel chosen for each pass shape on each adapter, with
//! the timings it was chosen by, so a second start times nothing. Natively a JSON file
//! (`default_path`); in the browser the page keeps the same JSON in IndexedDB
//! (`web::kernel_cache` / `web::set_kernel_cache`).

use std::collections::BTreeMap;

use crate::error::Error;
use crate::ops::choice::Kernel;

/// Bumped when kernels change so much that old timings mislead (entries are then dropped).
const VERSION: u32 = 1;

/// Chosen kernels by adapter and pass shape (`entry_key`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KernelCache {
    version: u32,
    entries: BTreeMap<String, CacheEntry>,
}

/// One pass shape's choice and each candidate's time (ms per run).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheEntry {
    pub kernel: Kernel,
    pub ms: Vec<(Kernel, f64)>,
}

/// What identifies an adapter for timing purposes: a driver update may change the winner.
pub fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} [{:#x}:{:#x}] {} {} {:?} {:?}",
        info.name, info.vendor, info.device, info.driver, info.driver_info, info.backend, info.device_type
    )
}

/// The cache key of a pass shape (`ops::choice::conv_key`) on an adapter, with a
/// fingerprint of the candidates' WGSL: timings of kernels since edited never count.
pub fn entry_key(adapter: &str, pass_key: &str) -> String {
    format!("{adapter} | kernels {:016x} | {pass_key}", kernels_fingerprint())
}

/// FNV-1a over every candidate kernel's source.
fn kernels_fingerprint() -> u64 {
    let sources = crate::ops::conv2d::SOURCES.iter().chain(crate::ops::dense::SOURCES.iter());
    sources.flat_map(|s| s.bytes()).fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

impl KernelCache {
    pub fn get(&self, key: &str) -> Option<&CacheEntry> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: String, entry: CacheEntry) {
        self.version = VERSION;
        self.entries.insert(key, entry);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses the JSON `to_json` wrote; a cache from another version comes back empty.
    pub fn from_json(text: &str) -> Result<KernelCache, Error> {
        let cache: KernelCache = serde_json::from_str(text).map_err(|e| Error::BadFile(format!("kernel cache: {e}")))?;
        Ok(if cache.version == VERSION { cache } else { KernelCache::default() })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a kernel cache serializes")
    }

    /// The cache at `path`; empty when there is no file yet.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: &std::path::Path) -> Result<KernelCache, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => KernelCache::from_json(&text).map_err(|e| Error::BadFile(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KernelCache::default()),
            Err(e) => Err(Error::BadFile(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the cache to `path` (through a temporary file, so a reader never sees half).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save(&self, path: &std::path::Path) -> Result<(), Error> {
        let fail = |e: std::io::Error| Error::BadFile(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, self.to_json()).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

/// Where the native cache lives: $WGPU_MNIST_KERNEL_CACHE, else
/// $XDG_CACHE_HOME/wgpu-mnist/kernels.json, else ~/.cache/wgpu-mnist/kernels.json.
#[cfg(not(target_arch = "wasm32"))]
pub fn default_path() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = var("WGPU_MNIST_KERNEL_CACHE") {
        return Some(path);
    }
    let base = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))?;
    Some(base.join("wgpu-mnist").join("kernels.json"))
}
