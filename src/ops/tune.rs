//! The autotuner: before a graph is built, each convolution and dense pass at the graph's
//! batch size is timed under every candidate kernel (`Pass::candidates`) on this adapter
//! and the fastest goes into `GpuModel::kernels`, which `Graph::new` reads (so building a
//! graph stays synchronous). Choices come from the `KernelCache` when it has them, so a
//! second start times nothing.
//!
//! Bounded: per candidate a warm-up run (which compiles the pipeline), then up to
//! `ROUNDS` interleaved timed runs of enough repetitions for `MIN_RUN_MS` (one for
//! passes of `SLOW_MS` or more), clear losers leaving early; all of it within about
//! `BUDGET_MS` per call.

use std::collections::HashSet;

use super::choice::{conv_key, dense_key, Choices, Kernel, Pass};
use super::conv2d::{conv2d_backward_input, conv2d_backward_weights, conv2d_forward};
use super::dense::{dense_backward_input, dense_backward_weights, dense_forward};
use super::kernel::time_ms;
use super::kernel_cache::{adapter_key, entry_key, CacheEntry, KernelCache};
use super::{Dispatch, View};
use crate::clock::now_ms;
use crate::desc::conv2d::Conv2dShape;
use crate::desc::dense::DenseShape;
use crate::error::Error;
use crate::gpu::Gpu;

/// Timed rounds: each round runs every candidate still in the race once, in turn, so
/// a change in the machine's load (another process on a software adapter's cores) hits
/// all candidates alike; a candidate's time is its fastest run (load only adds time).
const ROUNDS: usize = 3;
/// Each timed run repeats the pass until it takes about this long, so a fast GPU's
/// submit-and-wait overhead does not swamp microsecond kernels.
const MIN_RUN_MS: f64 = 2.0;
const MAX_REPS: usize = 64;
/// A candidate this many times slower than the best so far leaves the race.
const GIVE_UP: f64 = 3.0;
/// Runs this long (ms) dwarf the submit-and-wait overhead, so two runs are enough, the
/// warm-up one of them: software adapters take 30 to 1700 ms per convolution pass at
/// batch 64.
const SLOW_MS: f64 = 50.0;
/// A warm-up run over `WARM_UP_GIVE_UP` times the best warm-up plus `COMPILE_MS` (more
/// than compiling one of these pipelines takes) ends a candidate there.
const WARM_UP_GIVE_UP: f64 = 1.5;
const COMPILE_MS: f64 = 500.0;
/// Another candidate replaces the adapter's default only when this much faster: under
/// load on lavapipe, single runs of one kernel varied by 10% and more.
const MARGIN: f64 = 0.10;

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
/// default kernel, uncached, and the next start times them. On lavapipe (2 cores shared
/// with other jobs, load 3 to 4) pytorch-cnn at batch 64 timed all 8 passes in 16 s; fast
/// at batch 256 (0.3 to 3 s a run) 5 of 11 in 31 s, the other 6 at the next start in 2 s
/// (about 70 s at once before this bound and the rounds).
const BUDGET_MS: f64 = 30_000.0;

/// A pass to choose a kernel for.
pub enum Job {
    Conv(Pass, Conv2dShape),
    Dense(Pass, DenseShape),
}

/// Chooses the kernel of each of `jobs` (a network's passes, by layer name: see
/// `GpuModel::autotune`) into `kernels`, timing what `cache` does not know and adding it
/// there.
pub async fn autotune(gpu: &Gpu, kernels: &mut Choices, jobs: Vec<(String, Job)>, cache: &mut KernelCache) -> Result<Vec<Tuned>, Error> {
    let adapter = adapter_key(&gpu.adapter_info);
    let started = now_ms();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (layer, job) in jobs {
        let (pass, key, default) = match &job {
            Job::Conv(pass, s) => (*pass, conv_key(*pass, s), kernels.conv(*pass, s)),
            Job::Dense(pass, s) => (*pass, dense_key(*pass, s), kernels.dense(*pass, s)),
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
            _ => (time_candidates(gpu, &job, default, started + BUDGET_MS).await?, false),
        };
        if !cached {
            cache.insert(cache_key, entry.clone());
        }
        kernels.chosen.insert(key.clone(), entry.kernel);
        out.push(Tuned { layer, pass: pass.name(), key, kernel: entry.kernel, ms: entry.ms, cached });
    }
    Ok(out)
}

/// One kernel in the race.
struct Runner {
    kernel: Kernel,
    dispatches: Vec<Dispatch>,
    reps: usize,
    times: Vec<f64>,
    out: bool,
}

impl Runner {
    fn best(&self) -> f64 {
        self.times.iter().copied().fold(f64::INFINITY, f64::min)
    }
    async fn run(&self, gpu: &Gpu, reps: usize) -> Result<f64, Error> {
        time_ms(gpu, &self.dispatches.iter().collect::<Vec<_>>(), reps).await
    }
}

/// Times each candidate of `job` on scratch buffers in interleaved rounds (after a
/// warm-up round that compiles the pipelines) and picks the fastest; the adapter's
/// default `first` unless another beats it by `MARGIN`. Stops after the first timed
/// round once `deadline` (ms, `now_ms`) has passed.
async fn time_candidates(gpu: &Gpu, job: &Job, first: Kernel, deadline: f64) -> Result<CacheEntry, Error> {
    let (pass, scratch) = match job {
        Job::Conv(pass, s) => (*pass, conv_scratch(gpu, s)?),
        Job::Dense(pass, s) => (*pass, dense_scratch(gpu, s)?),
    };
    let (mut runners, mut refused) = (Vec::new(), None);
    for &kernel in pass.candidates() {
        if let Job::Conv(pass, s) = job {
            if !kernel.computes(*pass, s) {
                continue;
            }
        }
        let built = match job {
            Job::Conv(pass, s) => conv_dispatches(gpu, *pass, s, &scratch, kernel),
            Job::Dense(pass, s) => dense_dispatches(gpu, *pass, s, &scratch, kernel),
        };
        // A candidate this adapter cannot run (a grid over its limits) is no candidate.
        match built {
            Ok(dispatches) => runners.push(Runner { kernel, dispatches, reps: 1, times: Vec::new(), out: false }),
            Err(e) => refused = Some(e),
        }
    }
    runners.sort_by_key(|r| r.kernel != first);
    // Warm-up round (the default first): compiles each pipeline; a clear loser is out. A
    // slow warm-up counts as a run: compiling is a small part of it, and the fastest run
    // is what counts.
    let mut best_warm_up = f64::INFINITY;
    for r in &mut runners {
        let t = r.run(gpu, 1).await?;
        r.out = t > WARM_UP_GIVE_UP * best_warm_up + COMPILE_MS;
        if r.out || t >= SLOW_MS {
            r.times.push(t);
        }
        best_warm_up = best_warm_up.min(t);
    }
    for round in 0..ROUNDS {
        for r in runners.iter_mut().filter(|r| !r.out) {
            let t = r.run(gpu, r.reps).await?;
            if round == 0 {
                // The first round calibrates: a run too short to time well does not count.
                r.reps = ((MIN_RUN_MS / t.max(1e-3)).ceil() as usize).clamp(1, MAX_REPS);
                if r.reps > 1 {
                    continue;
                }
            }
            r.times.push(t);
        }
        let best = runners.iter().map(Runner::best).fold(f64::INFINITY, f64::min);
        for r in runners.iter_mut().filter(|r| !r.times.is_empty() && r.best() > GIVE_UP * best) {
            r.out = true;
        }
        let racing = runners.iter().filter(|r| !r.out);
        let counted = racing.clone().all(|r| !r.times.is_empty());
        let slow = racing.clone().all(|r| r.times.len() >= 2 && r.best() >= SLOW_MS);
        if counted && (slow || now_ms() > deadline) {
            break;
        }
    }
    let fastest = runners.iter().filter(|r| !r.times.is_empty()).min_by(|a, b| a.best().total_cmp(&b.best()));
    let Some(fastest) = fastest else { return Err(refused.expect("every pass has candidates")) };
    let default = runners.iter().find(|r| r.kernel == first && !r.out);
    let kernel = match default {
        Some(d) if d.best() <= (1.0 + MARGIN) * fastest.best() => first,
        _ => fastest.kernel,
    };
    let mut ms: Vec<(Kernel, f64)> = runners.iter().map(|r| (r.kernel, r.best())).collect();
    ms.sort_by_key(|(k, _)| pass.candidates().iter().position(|c| c == k));
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
        Pass::ConvForward => conv2d_forward(gpu, s, x, w, b, y, true, k)?,
        Pass::ConvBackwardInput => conv2d_backward_input(gpu, s, dy, w, dx, k)?,
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
