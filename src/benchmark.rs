//! Benchmarks shared by the native `bench` command and the browser: training
//! throughput (median of timed windows after a warm-up window; each window ends with a
//! readback, so the GPU work is inside it), inference latency from images in memory to
//! probabilities in hand, time to reach a test accuracy, and a per-kernel breakdown.

use crate::data::{pixel_to_input, pixels_to_input, Mnist};
use crate::error::Error;
use crate::gpu::{groups_for, run, time_ms, uniform, Dispatch, Gpu, Shader, View};
use crate::model::{Engine, Graph, Model, Net, Planned, Spec};
use crate::train::{Predictor, TrainConfig, Trainer};

pub use crate::clock::{median, now_ms};

/// Training images per second: median of `windows` windows of at least `images` images.
pub async fn train_throughput(
    engine: &Engine,
    spec: &Spec,
    data: &Mnist,
    batch: usize,
    windows: usize,
    images: usize,
) -> Result<f64, Error> {
    train_throughput_of(Net::new(engine, spec, 1)?, data, batch, windows, images).await
}

/// `train_throughput` of a given network (the page's benchmark sets how its graphs run
/// convolutions first).
pub async fn train_throughput_of(net: Net, data: &Mnist, batch: usize, windows: usize, images: usize) -> Result<f64, Error> {
    let mut config = TrainConfig::from_spec(net.spec(), 1);
    config.batch = batch;
    config.validation_split = 0.0;
    let mut trainer = Trainer::new(net, config, data)?;
    let steps = images.div_ceil(batch).min(trainer.steps_per_epoch);
    let mut rates = Vec::new();
    for w in 0..=windows {
        if trainer.epoch == 0 || trainer.steps_per_epoch - trainer.step_in_epoch < steps {
            trainer.begin_epoch();
        }
        let t = now_ms();
        let m = trainer.train_steps(steps).await?;
        if w > 0 {
            rates.push(m.examples as f64 / ((now_ms() - t) / 1000.0)); // window 0 warms up
        }
    }
    Ok(median(rates))
}

/// Median latency (ms) of predicting `n` test images, over `runs` runs after a warm-up.
/// A run repeats the prediction until it lasts 10 ms or more and counts the mean: a
/// browser's clock ticks every 0.1 ms on a page that is not cross-origin isolated, as
/// coarse as one image's latency (single calls read 0.6-1.1 ms for the same build).
pub async fn inference_latency(net: &mut Net, data: &Mnist, n: usize, runs: usize) -> Result<f64, Error> {
    let mut predictor = Predictor::new(net, n)?;
    let images = pixels_to_input(&data.test.images.pixels[..n * 784]);
    let t = now_ms();
    predictor.run(net, &images).await?;
    let repeats = (10.0 / (now_ms() - t).max(0.01)).ceil().clamp(1.0, 1000.0) as usize;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = now_ms();
        for _ in 0..repeats {
            predictor.run(net, &images).await?;
        }
        times.push((now_ms() - t) / repeats as f64);
    }
    Ok(median(times))
}

/// What `time_to_accuracy` measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TimeToAccuracy {
    pub batch: usize,
    /// Preparing the trainer: the data put where the engine reads it, every graph built
    /// (on the GPU: the shaders compiled). Not on the training clock.
    pub setup_s: f64,
    /// Seconds of training until the test accuracy first reached each target; None if
    /// the recipe ended first.
    pub reached: Vec<Option<f64>>,
    /// Training seconds in all, epochs begun, test checks made, and the last accuracy.
    pub trained_s: f64,
    pub epochs: usize,
    pub checks: usize,
    pub last_accuracy: f64,
}

/// Trains `net` by its spec's recipe (its batch, optimizer, schedule and epochs; seed 1) and times
/// the training until the test accuracy first reaches each target, checking the whole
/// test set `checks_per_epoch` times an epoch off the clock (the clock covers the
/// training steps only, each chunk ending with its metrics read back). Stops when every
/// target is reached or the recipe ends.
pub async fn time_to_accuracy(net: Net, data: &Mnist, targets: &[f64], checks_per_epoch: usize) -> Result<TimeToAccuracy, Error> {
    let mut config = TrainConfig::from_spec(net.spec(), 1);
    config.validation_split = 0.0;
    let started = now_ms();
    let mut trainer = Trainer::new(net, config, data)?;
    let setup_s = (now_ms() - started) / 1000.0;
    let steps = trainer.steps_per_epoch.div_ceil(checks_per_epoch.max(1));
    let mut out = TimeToAccuracy {
        batch: config.batch,
        setup_s,
        reached: vec![None; targets.len()],
        trained_s: 0.0,
        epochs: 0,
        checks: 0,
        last_accuracy: 0.0,
    };
    'outer: for _ in 0..config.epochs {
        trainer.begin_epoch();
        out.epochs += 1;
        while !trainer.epoch_done() {
            let t = now_ms();
            trainer.train_steps(steps).await?;
            out.trained_s += (now_ms() - t) / 1000.0;
            out.last_accuracy = trainer.evaluate_test().await?.accuracy;
            out.checks += 1;
            for (r, &target) in out.reached.iter_mut().zip(targets) {
                if r.is_none() && out.last_accuracy >= target {
                    *r = Some(out.trained_s);
                }
            }
            if out.reached.iter().all(Option::is_some) {
                break 'outer;
            }
        }
    }
    Ok(out)
}

/// Per-kernel time of a graph's dispatches (`Graph::train_step_dispatches`, or
/// `predict_dispatches`): each dispatch run alone, `reps` times in one submit, median of
/// 3 such runs, in ms. They add up to more than a whole step (no overlap between
/// dispatches, one submit each).
pub async fn kernel_profile(gpu: &Gpu, dispatches: &[&Dispatch], reps: usize) -> Result<Vec<(&'static str, f64)>, Error> {
    let mut rows = Vec::new();
    for &d in dispatches {
        let mut times = Vec::new();
        for _ in 0..3 {
            times.push(time_ms(gpu, &[d], reps).await?);
        }
        rows.push((d.label, median(times)));
    }
    Ok(rows)
}

const PEAK: Shader = Shader { name: "peak", source: include_str!("../shaders/peak.wgsl") };

uniform! {
    /// `PeakParams` of shaders/peak.wgsl.
    pub struct PeakParams { iterations: u32, threads: u32, _p0: u32, _p1: u32 }
}

/// The adapter's measured f32 arithmetic peak in GFLOP/s (shaders/peak.wgsl): median of
/// 3 runs of a dispatch with no memory traffic in its loop.
pub async fn peak_gflops(gpu: &Gpu) -> Result<f64, Error> {
    let (threads, iterations) = (16_384u32, 2_048u32);
    let sink = View::new(gpu, "sink", 4)?;
    let d = Dispatch::new(
        gpu,
        PEAK,
        "peak_fma",
        &PeakParams { iterations, threads, _p0: 0, _p1: 0 },
        &[(1, &sink)],
        groups_for(threads as usize),
    )?;
    run(gpu, &[&d]);
    gpu.finish().await?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = now_ms();
        run(gpu, &[&d]);
        gpu.finish().await?;
        times.push(now_ms() - t);
    }
    let flops = threads as f64 * iterations as f64 * 8.0 * 4.0 * 2.0;
    Ok(flops / (median(times) / 1000.0) / 1e9)
}

/// Floating-point operations of one training example (forward, backward, in
/// multiply-adds x 2), counting convolutions and dense layers, which dominate.
pub fn train_flops_per_example(layers: &[Planned]) -> f64 {
    let mut flops = 0.0;
    for (i, l) in layers.iter().enumerate() {
        let macs = match l {
            Planned::Conv { input, kernel, .. } => {
                let (c, h, w) = l.output();
                (c * h * w * input.0 * kernel * kernel) as f64
            }
            Planned::Dense { in_f, out_f, .. } => (in_f * out_f) as f64,
            _ => 0.0,
        };
        // forward + weight gradient, + the input gradient where one is computed
        flops += 2.0 * macs * if crate::model::plan::input_gradient_needed(layers, i) { 3.0 } else { 2.0 };
    }
    flops
}

/// A training graph of a model by its spec's optimizer, for `kernel_profile`.
pub fn profile_graph(model: &Model, batch: usize) -> Result<Graph, Error> {
    let opt = &model.spec.optimizer;
    Graph::new(model, batch, Some((opt, &[opt.lr()])))
}

/// The CPU engine's time per layer and pass of one training step at `batch`: median of
/// `steps` steps after a warm-up step, in ms.
pub fn cpu_step_profile(spec: &Spec, data: &Mnist, batch: usize, steps: usize) -> Result<Vec<(String, f64)>, Error> {
    let mut model = crate::model::CpuModel::new(spec, 1)?;
    let mut graph = crate::model::CpuGraph::new(&model, batch, true)?;
    let (x, labels) = graph.input_mut();
    for (i, (x, l)) in x.chunks_mut(784).zip(labels.iter_mut()).enumerate() {
        x.iter_mut().zip(data.train.image(i)).for_each(|(x, &p)| *x = pixel_to_input(p));
        *l = data.train.labels[i] as u32;
    }
    let mut runs: Vec<Vec<(String, f64)>> = Vec::new();
    for s in 0..=steps {
        graph.timings = Some(Vec::new());
        graph.train_step(&mut model, &spec.optimizer, &[spec.optimizer.lr()]);
        let t = graph.timings.take().unwrap_or_default();
        if s > 0 {
            runs.push(t);
        }
    }
    Ok((0..runs[0].len()).map(|i| (runs[0][i].0.clone(), median(runs.iter().map(|r| r[i].1).collect()))).collect())
}
