//! The autotuner through the kernel cache file, for `train` and `bench` (GPU engine; a
//! build without the `gpu` feature has nothing to tune).

use wgpu_mnist::model::Net;
#[cfg(feature = "gpu")]
use wgpu_mnist::ops::kernel_cache::{self, KernelCache};
#[cfg(feature = "gpu")]
use wgpu_mnist::ops::tune::Tuned;
use wgpu_mnist::Error;

/// The kernel chosen for each pass of one network, with each candidate's time.
pub struct Choices(#[cfg(feature = "gpu")] Vec<Tuned>);

/// Chooses the kernel of each convolution and dense pass of `net` at `batch` (GPU only),
/// timing only what the kernel cache file (`kernel_cache::default_path`) does not know,
/// and saves what was timed there. A cache that cannot be read is set aside with a
/// warning (and rewritten); the run goes on either way.
#[cfg(feature = "gpu")]
pub async fn autotune(net: &mut Net, batch: usize) -> Result<Choices, Error> {
    let path = kernel_cache::default_path();
    let mut cache = match path.as_deref().map(KernelCache::load).transpose() {
        Ok(cache) => cache.unwrap_or_default(),
        Err(e) => {
            eprintln!("warning: the kernel cache is ignored and will be rewritten: {e}");
            KernelCache::default()
        }
    };
    let started = std::time::Instant::now();
    let tuned = net.autotune(batch, &mut cache).await?;
    let timed = tuned.iter().filter(|t| !t.cached && !t.deferred()).count();
    if timed > 0 {
        let saved = match &path {
            Some(path) => match cache.save(path) {
                Ok(()) => format!("saved to {}", path.display()),
                Err(e) => format!("not saved: {e}"),
            },
            None => "not saved: no cache directory (set WGPU_MNIST_KERNEL_CACHE)".into(),
        };
        let s = started.elapsed().as_secs_f64();
        println!("autotune: {timed} of {} passes at batch {batch} timed in {s:.1} s, {saved}", tuned.len());
    }
    let deferred = tuned.iter().filter(|t| t.deferred()).count();
    if deferred > 0 {
        println!("autotune: {deferred} passes keep their default kernel (out of time); the next start times them");
    }
    Ok(Choices(tuned))
}

/// Without the GPU engine there is no kernel to choose.
#[cfg(not(feature = "gpu"))]
pub async fn autotune(_net: &mut Net, _batch: usize) -> Result<Choices, Error> {
    Ok(Choices())
}

impl Choices {
    /// Prints the kernel chosen for each pass, with each candidate's time (nothing on the
    /// CPU engine).
    pub fn print(&self) {
        #[cfg(feature = "gpu")]
        {
            let tuned = &self.0;
            if tuned.is_empty() {
                return;
            }
            let cached = tuned.iter().all(|t| t.cached);
            println!(
                "  kernels chosen (ms per run of each candidate{}):",
                if cached { ", timed on an earlier run: from the kernel cache" } else { "" }
            );
            for t in tuned {
                let mut times: Vec<String> = t.ms.iter().map(|(k, ms)| format!("{} {ms:.2}", k.name())).collect();
                if t.deferred() {
                    times.push("the default, not timed yet (out of time)".into());
                }
                println!("  {:<24} {:<14} {}", format!("{} {}", t.layer, t.pass), t.kernel.name(), times.join(", "));
            }
        }
    }
}
