//! `wgpu-mnist bench`: training throughput per preset and batch size (median of timed
//! windows after warm-up; each window ends with a readback, so the GPU work is inside
//! it) and inference latency for one image and for 1,000.

use std::time::Instant;

use crate::cli::{preset, Args};
use wgpu_mnist::data::{Mnist, DEFAULT_DIR};
use wgpu_mnist::model::{Graph, Model};
use wgpu_mnist::train::{predict, TrainConfig, Trainer, PIXEL_SCALE};
use wgpu_mnist::{Error, Gpu};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub async fn run(args: &Args) -> Result<(), Error> {
    let bad = |e: String| Error::Shape(e);
    let gpu = Gpu::new().await?;
    let data = Mnist::load(std::path::Path::new(args.get("data").unwrap_or(DEFAULT_DIR)))?;
    let models: Vec<String> = args.get("models").unwrap_or("pytorch-cnn").split(',').map(String::from).collect();
    let batches: Vec<usize> = args
        .get("batches")
        .unwrap_or("64,200")
        .split(',')
        .map(|b| b.parse().map_err(|_| bad(format!("bad batch size '{b}'"))))
        .collect::<Result<_, _>>()?;
    let windows = args.num::<usize>("windows").map_err(bad)?.unwrap_or(5);
    let min_images = args.num::<usize>("images").map_err(bad)?.unwrap_or(2000);
    println!("device: {}", gpu.describe());
    println!("| model | batch | train img/s (median of {windows}) | 1-image inference ms | 1000-image inference ms |");
    println!("|---|---|---|---|---|");
    for name in &models {
        let spec = preset(name).map_err(bad)?;
        let (one, thousand) = inference_latency(&gpu, &Model::new(&gpu, &spec, 1)?, &data).await?;
        for &batch in &batches {
            let mut config = TrainConfig::from_spec(&spec, 1);
            config.batch = batch;
            config.validation_split = 0.0;
            let mut trainer = Trainer::new(&gpu, Model::new(&gpu, &spec, 1)?, config, &data)?;
            let steps = min_images.div_ceil(batch);
            let mut rates = Vec::new();
            for w in 0..=windows {
                if trainer.epoch == 0 || trainer.steps_per_epoch - trainer.step_in_epoch < steps {
                    trainer.begin_epoch();
                }
                let t = Instant::now();
                let m = trainer.train_steps(steps).await?;
                let rate = m.examples as f64 / t.elapsed().as_secs_f64();
                if w > 0 {
                    rates.push(rate); // window 0 is the warm-up
                }
            }
            println!("| {name} | {batch} | {:.0} | {one:.2} | {thousand:.1} |", median(rates));
            if args.get("profile").is_some() {
                profile(&gpu, trainer.train_graph()).await?;
            }
        }
    }
    Ok(())
}

/// Median latency (ms) from images in memory to probabilities in hand, for 1 and 1,000.
async fn inference_latency(gpu: &Gpu, model: &Model, data: &Mnist) -> Result<(f64, f64), Error> {
    let mut out = [0.0; 2];
    for (slot, (n, runs)) in [(1usize, 21), (1000, 5)].into_iter().enumerate() {
        let graph = Graph::new(model, n, None)?;
        let images: Vec<f32> = data.test.images.pixels[..n * 784].iter().map(|&p| p as f32 * PIXEL_SCALE).collect();
        predict(gpu, &graph, &images).await?; // warm-up
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            predict(gpu, &graph, &images).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        out[slot] = median(times);
    }
    Ok((out[0], out[1]))
}

/// Per-kernel time of one training step: each dispatch run alone, `REPS` times in one
/// submit, median of 3 such runs. Sums to more than a fused step (no overlap).
async fn profile(gpu: &Gpu, graph: &Graph) -> Result<(), Error> {
    const REPS: usize = 5;
    let mut rows: Vec<(&str, f64)> = Vec::new();
    for d in graph.train_step_dispatches() {
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            wgpu_mnist::ops::run(gpu, &vec![d; REPS]);
            gpu.finish().await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0 / REPS as f64);
        }
        rows.push((d.label, median(times)));
    }
    let total: f64 = rows.iter().map(|r| r.1).sum();
    println!("\nper-kernel time of one step at batch {} (ms; each dispatch alone):", graph.batch);
    for (label, ms) in &rows {
        println!("  {label:<28} {ms:8.2}  {:5.1}%", 100.0 * ms / total);
    }
    println!("  {:<28} {total:8.2}", "total");
    Ok(())
}
