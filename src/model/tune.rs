//! The autotuner: before a graph is built, each convolution and dense pass at the graph's
//! batch size is timed under every candidate kernel (`Pass::candidates`) on this adapter
//! and the fastest goes into `Model::kernels`, which `Graph::new` reads (so building a
//! graph stays synchronous). Choices come from the `KernelCache` when it has them, so a
//! second start times nothing.
//!
//! Bounded: per candidate one warm-up run (which compiles the pipeline), one calibration
//! run, then (unless that took `SLOW_MS` or `GIVE_UP` times the best candidate's time)
//! `RUNS` timed runs of enough repetitions for `MIN_RUN_MS`, cut short once a run is
//! `GIVE_UP` times slower than the best candidate so far; and all of it within
//! `BUDGET_MS` per call.

use std::collections::HashSet;

use super::kernel_cache::{adapter_key, entry_key, CacheEntry, KernelCache};
use super::plan::input_gradient_needed;
use super::{Model, Planned};
use crate::clock::{median, now_ms};
use crate::error::Error;
use crate::gpu::Gpu;
use crate::ops::choice::{conv_key, dense_key, Kernel, Pass};
use crate::ops::conv2d::{conv2d_backward_input, conv2d_backward_weights, conv2d_forward, Conv2dShape};
use crate::ops::dense::{dense_backward_input, dense_backward_weights, dense_forward, DenseShape};
use crate::ops::kernel::time_ms;
use crate::ops::{Dispatch, View};

/// Timed runs per candidate (their median counts).
const RUNS: usize = 3;
/// Each timed run repeats the pass until it takes about this long, so a fast GPU's
/// submit-and-wait overhead does not swamp microsecond kernels.
const MIN_RUN_MS: f64 = 2.0;
const MAX_REPS: usize = 64;
/// A candidate this many times slower than the best so far is not timed further.
const GIVE_UP: f64 = 3.0;
/// A run this long (ms) dwarfs the submit-and-wait overhead, so one timed run is enough:
/// software adapters take 30 to 1400 ms per convolution pass at batch 64, and further
/// runs would double or triple the tuning time there.
const SLOW_MS: f64 = 50.0;
/// A warm-up run over `WARM_UP_GIVE_UP` times the best candidate's time plus `COMPILE_MS`
/// (more than compiling one of these pipelines takes) ends a candidate there.
const WARM_UP_GIVE_UP: f64 = 1.5;
const COMPILE_MS: f64 = 500.0;

/// What the tuner decided for one pass.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Tuned {
    /// The layer, e.g. "conv1", and the pass, e.g. "backward weights".
    pub layer: String,
    pub pass: &'static str,
    /// The pass shape (`ops::choice::conv_key`).
    pub key: String,
    pub kernel: Kernel,
    /// Each candidate's time, ms per run (those given up on: the runs they got); empty when
    /// the pass was deferred (`deferred`).
    pub ms: Vec<(Kernel, f64)>,
    /// Taken from the cache: nothing was timed.
    pub cached: bool,
}

impl Tuned {
    /// Left at its default kernel, untimed, because the time budget ran out.
    pub fn deferred(&self) -> bool {
        self.ms.is_empty()
    }
}

/// Each `autotune` call stops timing after this long (ms): the passes left keep their
/// default kernel, uncached, and the next start times them. Measured on lavapipe (2 cores,
/// shared): pytorch-cnn at batch 64 takes 11 to 21 s, fast at batch 256 about 70 s with
/// no bound (its passes take 0.5 to 6 s per run there).
const BUDGET_MS: f64 = 20_000.0;

/// A pass to choose a kernel for.
enum Job {
    Conv(Pass, Conv2dShape),
    Dense(Pass, DenseShape),
}

/// Chooses the kernel of every convolution and dense pass of `model`'s training graph at
/// `batch` (the forward passes serve its evaluation graphs at that batch too), timing
/// what `cache` does not know and adding it there. Convolutions forced to one kernel
/// (`Choices::forced_conv`) are left alone.
pub async fn autotune(model: &mut Model, batch: usize, cache: &mut KernelCache) -> Result<Vec<Tuned>, Error> {
    let adapter = adapter_key(&model.gpu.adapter_info);
    let started = now_ms();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (layer, job) in jobs(model, batch) {
        let (pass, key, default) = match &job {
            Job::Conv(pass, s) => (*pass, conv_key(*pass, s), model.kernels.conv(*pass, s)),
            Job::Dense(pass, s) => (*pass, dense_key(*pass, s), model.kernels.dense(*pass, s)),
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let cache_key = entry_key(&adapter, &key);
        let (entry, cached) = match cache.get(&cache_key) {
            Some(e) if pass.candidates().contains(&e.kernel) => (e.clone(), true),
            _ if now_ms() - started > BUDGET_MS => {
                out.push(Tuned { layer, pass: pass.name(), key, kernel: default, ms: Vec::new(), cached: false });
                continue;
            }
            _ => (time_candidates(&model.gpu, &job, default).await?, false),
        };
        if !cached {
            cache.insert(cache_key, entry.clone());
        }
        model.kernels.chosen.insert(key.clone(), entry.kernel);
        out.push(Tuned { layer, pass: pass.name(), key, kernel: entry.kernel, ms: entry.ms, cached });
    }
    Ok(out)
}

/// Every pass the training graph runs with a choice of kernel, by layer name.
fn jobs(model: &Model, batch: usize) -> Vec<(String, Job)> {
    let mut jobs = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        let dx = input_gradient_needed(&model.layers, i);
        match layer {
            Planned::Conv { name, .. } if model.kernels.forced_conv.is_none() => {
                let s = layer.conv_shape(batch);
                let passes = [Pass::ConvForward, Pass::ConvBackwardWeights, Pass::ConvBackwardInput];
                jobs.extend(passes.into_iter().take(2 + dx as usize).map(|p| (name.clone(), Job::Conv(p, s))));
            }
            Planned::Dense { name, in_f, out_f, .. } => {
                let s = DenseShape { batch, in_f: *in_f, out_f: *out_f };
                let passes = [Pass::DenseForward, Pass::DenseBackwardWeights, Pass::DenseBackwardInput];
                jobs.extend(passes.into_iter().take(2 + dx as usize).map(|p| (name.clone(), Job::Dense(p, s))));
            }
            _ => {}
        }
    }
    jobs
}

/// Times each candidate of `job` on scratch buffers, `first` (the likely winner: the
/// adapter's default) first so slower ones are given up on early, and picks the fastest.
async fn time_candidates(gpu: &Gpu, job: &Job, first: Kernel) -> Result<CacheEntry, Error> {
    let (pass, scratch) = match job {
        Job::Conv(pass, s) => (*pass, conv_scratch(gpu, s)?),
        Job::Dense(pass, s) => (*pass, dense_scratch(gpu, s)?),
    };
    let mut ms: Vec<(Kernel, f64)> = Vec::new();
    let (mut best, mut refused) = (f64::INFINITY, None);
    let mut order: Vec<Kernel> = pass.candidates().to_vec();
    order.sort_by_key(|&k| k != first);
    for kernel in order {
        let built = match job {
            Job::Conv(pass, s) => conv_dispatches(gpu, *pass, s, &scratch, kernel),
            Job::Dense(pass, s) => dense_dispatches(gpu, *pass, s, &scratch, kernel),
        };
        // A candidate this adapter cannot run (a grid over its limits) is no candidate.
        let dispatches = match built {
            Ok(d) => d,
            Err(e) => {
                refused = Some(e);
                continue;
            }
        };
        let d: Vec<&Dispatch> = dispatches.iter().collect();
        let warm_up = time_ms(gpu, &d, 1).await?; // may include compiling the pipeline
                                                  // A warm-up far over the best is a loser whatever its compile time was.
        if warm_up > WARM_UP_GIVE_UP * best + COMPILE_MS {
            ms.push((kernel, warm_up));
            continue;
        }
        let once = time_ms(gpu, &d, 1).await?;
        let reps = ((MIN_RUN_MS / once.max(1e-3)).ceil() as usize).clamp(1, MAX_REPS);
        let mut times = vec![once];
        if once < GIVE_UP * best && once < SLOW_MS {
            times.clear();
            for _ in 0..RUNS {
                times.push(time_ms(gpu, &d, reps).await?);
                if times[times.len() - 1] > GIVE_UP * best {
                    break;
                }
            }
        }
        let t = median(times);
        best = best.min(t);
        ms.push((kernel, t));
    }
    ms.sort_by_key(|(k, _)| pass.candidates().iter().position(|c| c == k));
    let Some(&(kernel, _)) = ms.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
        return Err(refused.expect("every pass has candidates"));
    };
    Ok(CacheEntry { kernel, ms })
}

/// Zeroed buffers for every input and output of a layer's passes:
/// conv [x, w, b, y, dy, dx, dw]; dense the same.
fn conv_scratch(gpu: &Gpu, s: &Conv2dShape) -> Result<Vec<View>, Error> {
    let lens = [s.input_len(), s.weight_len(), s.out_c, s.output_len(), s.output_len(), s.input_len(), s.weight_len()];
    lens.iter().map(|&n| View::new(gpu, "autotune scratch", n)).collect()
}

fn dense_scratch(gpu: &Gpu, s: &DenseShape) -> Result<Vec<View>, Error> {
    let (x, w, y) = (s.batch * s.in_f, s.out_f * s.in_f, s.batch * s.out_f);
    [x, w, s.out_f, y, y, x, w].iter().map(|&n| View::new(gpu, "autotune scratch", n)).collect()
}

fn conv_dispatches(gpu: &Gpu, pass: Pass, s: &Conv2dShape, v: &[View], k: Kernel) -> Result<Vec<Dispatch>, Error> {
    let [x, w, b, y, dy, dx, dw] = v else { unreachable!("seven scratch buffers") };
    Ok(match pass {
        Pass::ConvForward => vec![conv2d_forward(gpu, s, x, w, b, y, true, k)?],
        Pass::ConvBackwardInput => vec![conv2d_backward_input(gpu, s, dy, w, dx, k)?],
        _ => conv2d_backward_weights(gpu, s, x, dy, dw, k)?,
    })
}

fn dense_dispatches(gpu: &Gpu, pass: Pass, s: &DenseShape, v: &[View], k: Kernel) -> Result<Vec<Dispatch>, Error> {
    let [x, w, b, y, dy, dx, dw] = v else { unreachable!("seven scratch buffers") };
    Ok(vec![match pass {
        Pass::DenseForward => dense_forward(gpu, s, x, w, b, y, true, k)?,
        Pass::DenseBackwardInput => dense_backward_input(gpu, s, dy, w, dx, k)?,
        _ => dense_backward_weights(gpu, s, x, dy, dw, k)?,
    }])
}
