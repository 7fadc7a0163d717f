//! Benchmarks shared by the native `bench` command and the browser: training
//! throughput (median of timed windows after a warm-up window; each window ends with a
//! readback, so the GPU work is inside it), inference latency from images in memory to
//! probabilities in hand, time to reach a test accuracy, and a per-kernel breakdown
//! (`Net::step_profile`).

use crate::data::{pixels_to_input, Mnist};
use crate::error::Error;
use crate::model::{Engine, Net, Planned, Spec};
use crate::train::{TrainConfig, Trainer};

pub use crate::clock::{median, now_ms};

/// One row of the benchmark table: a preset's training speed at a batch size and its
/// inference latency.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub model: String,
    pub batch: usize,
    pub train_images_per_s: f64,
    /// Training GFLOP/s (`train_flops_per_example` x images/s).
    pub gflops: f64,
    pub infer_1_ms: f64,
    pub infer_1000_ms: f64,
}

/// How the benchmark makes each network it measures: the command line and the page
/// choose the GPU's kernels through their own kernel caches (a file; IndexedDB), and the
/// page may force one convolution kernel.
#[allow(async_fn_in_trait)]
pub trait Prepare {
    /// A fresh network of `spec` (seed 1).
    fn network(&mut self, engine: &Engine, spec: &Spec) -> Result<Net, Error> {
        Net::new(engine, spec, 1)
    }
    /// Readies `net` to train at `batch` (the GPU's kernels timed and chosen).
    async fn tune(&mut self, net: &mut Net, batch: usize) -> Result<(), Error>;
}

/// The benchmark's rows, the one loop the command line and the page share: for each
/// spec, inference latency of 1 and 1,000 images, then training images/s (median of
/// `windows` windows of at least `images` images) at each batch size. `row` sees each
/// row as it is measured.
#[allow(clippy::too_many_arguments)]
pub async fn rows(
    engine: &Engine,
    specs: &[Spec],
    batches: &[usize],
    windows: usize,
    images: usize,
    data: &Mnist,
    prepare: &mut impl Prepare,
    mut row: impl FnMut(&Row),
) -> Result<Vec<Row>, Error> {
    let mut out = Vec::new();
    for spec in specs {
        let mut model = prepare.network(engine, spec)?;
        let flops = train_flops_per_example(model.layers());
        let one = inference_latency(&mut model, data, 1, 21).await?;
        let thousand = inference_latency(&mut model, data, 1000, 3).await?;
        for &batch in batches {
            let mut net = prepare.network(engine, spec)?;
            prepare.tune(&mut net, batch).await?;
            let rate = train_throughput_of(net, data, batch, windows, images).await?;
            let r = Row {
                model: spec.name.clone(),
                batch,
                train_images_per_s: rate,
                gflops: rate * flops / 1e9,
                infer_1_ms: one,
                infer_1000_ms: thousand,
            };
            row(&r);
            out.push(r);
        }
    }
    Ok(out)
}

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
    let mut predictor = net.predictor(n)?;
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

/// Floating-point operations of one training example (forward, backward, in
/// multiply-adds x 2), counting convolutions and dense layers, which dominate.
pub fn train_flops_per_example(layers: &[Planned]) -> f64 {
    pass_flops_per_example(layers).iter().map(|(f, b)| f + b).sum()
}

/// Each layer's forward and backward FLOPs for one training example (convolutions and
/// dense layers; the rest count as none): the backward is the weight gradient, plus the
/// input gradient where one is computed.
pub fn pass_flops_per_example(layers: &[Planned]) -> Vec<(f64, f64)> {
    layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let macs = match l {
                Planned::Conv { input, kernel, .. } => {
                    let (c, h, w) = l.output();
                    (c * h * w * input.0 * kernel * kernel) as f64
                }
                Planned::Dense { in_f, out_f, .. } => (in_f * out_f) as f64,
                _ => 0.0,
            };
            let backward = if crate::model::plan::input_gradient_needed(layers, i) { 2.0 } else { 1.0 };
            (2.0 * macs, 2.0 * macs * backward)
        })
        .collect()
}
