//! `wgpu-mnist bench`: prints the benchmark table (src/benchmark.rs) for this machine.

use crate::cli::{preset, Args};
use wgpu_mnist::benchmark::{
    cpu_step_profile, inference_latency, kernel_profile, peak_gflops, profile_graph, time_to_accuracy, train_flops_per_example,
    train_throughput,
};
use wgpu_mnist::data::{Mnist, DEFAULT_DIR};
use wgpu_mnist::model::{Engine, Net};
use wgpu_mnist::{Error, Gpu};

/// `--engine both` (the default) benchmarks the GPU engine, when wgpu finds an adapter,
/// and the CPU engine; otherwise the one named.
pub async fn run(args: &Args) -> Result<(), Error> {
    let engines: Vec<Engine> = match args.get("engine").unwrap_or("both") {
        "both" => {
            let mut v = Vec::new();
            match Gpu::new().await {
                Ok(gpu) => v.push(Engine::Gpu(gpu)),
                Err(e) => println!("GPU engine skipped: {e}"),
            }
            v.push(Engine::Cpu);
            v
        }
        _ => vec![crate::cli::engine(args).await?],
    };
    for engine in &engines {
        run_engine(engine, args).await?;
    }
    Ok(())
}

async fn run_engine(engine: &Engine, args: &Args) -> Result<(), Error> {
    let bad = |e: String| Error::Shape(e);
    let data = Mnist::load(std::path::Path::new(args.get("data").unwrap_or(DEFAULT_DIR)))?;
    let models: Vec<String> = args.get("models").unwrap_or("pytorch-cnn").split(',').map(String::from).collect();
    let batches: Vec<usize> = args
        .get("batches")
        .unwrap_or("64,200")
        .split(',')
        .map(|b| b.parse().map_err(|_| bad(format!("bad batch size '{b}'"))))
        .collect::<Result<_, _>>()?;
    let windows = args.num::<usize>("windows").map_err(bad)?.unwrap_or(5);
    let images = args.num::<usize>("images").map_err(bad)?.unwrap_or(2000);
    let peak = match engine {
        Engine::Gpu(gpu) => Some(peak_gflops(gpu).await?),
        Engine::Cpu => None,
    };
    let peak_text = peak.map(|p| format!("; measured f32 peak {p:.1} GFLOP/s")).unwrap_or_default();
    println!("\nengine {}: {}{peak_text}", engine.name(), engine.describe());
    println!(
        "| engine | model | batch | train img/s (median of {windows}) | GFLOP/s{} | 1-image inference ms | 1000-image inference ms |",
        if peak.is_some() { " (% of peak)" } else { "" }
    );
    println!("|---|---|---|---|---|---|---|");
    for name in &models {
        let spec = preset(name).map_err(bad)?;
        let mut model = Net::new(engine, &spec, 1)?;
        let flops = train_flops_per_example(model.layers());
        let one = inference_latency(&mut model, &data, 1, 21).await?;
        let thousand = inference_latency(&mut model, &data, 1000, 3).await?;
        for &batch in &batches {
            let rate = train_throughput(engine, &spec, &data, batch, windows, images).await?;
            let gflops = rate * flops / 1e9;
            let share = peak.map(|p| format!(" ({:.0}%)", 100.0 * gflops / p)).unwrap_or_default();
            println!("| {} | {name} | {batch} | {rate:.0} | {gflops:.2}{share} | {one:.2} | {thousand:.1} |", engine.name());
        }
    }
    if let (Some(_), Engine::Cpu) = (args.get("profile"), engine) {
        for name in &models {
            let spec = preset(name).map_err(bad)?;
            let batch = batches[0];
            let rows = cpu_step_profile(&spec, &data, batch, 5)?;
            let total: f64 = rows.iter().map(|r| r.1).sum();
            println!("\nCPU engine: time of one {name} step at batch {batch} by layer and pass (ms, median of 5 steps):");
            for (label, ms) in &rows {
                println!("  {label:<28} {ms:8.2}  {:5.1}%", 100.0 * ms / total);
            }
            println!("  {:<28} {total:8.2}", "total");
        }
    }
    if let (Some(_), Engine::Gpu(gpu)) = (args.get("profile"), engine) {
        for name in &models {
            let spec = preset(name).map_err(bad)?;
            let batch = batches[0];
            let (_model, graph) = profile_graph(gpu, &spec, batch)?;
            let rows = kernel_profile(gpu, &graph, 3).await?;
            let total: f64 = rows.iter().map(|r| r.1).sum();
            println!("\nper-kernel time of one {name} step at batch {batch} (ms, each dispatch alone):");
            for (label, ms) in &rows {
                println!("  {label:<28} {ms:8.2}  {:5.1}%", 100.0 * ms / total);
            }
            println!("  {:<28} {total:8.2}", "total");
        }
    }
    if let Some(target_model) = args.get("time-to-accuracy") {
        let spec = preset(target_model).map_err(bad)?;
        let batch = batches[0];
        let every = args.num::<usize>("check-every").map_err(bad)?.unwrap_or(5000);
        let (reached, last) = time_to_accuracy(engine, &spec, &data, batch, &[0.98, 0.99], 3, every).await?;
        let show = |r: Option<f64>| r.map(|s| format!("{s:.1} s")).unwrap_or_else(|| "not reached".into());
        println!("\n{} engine, {target_model} batch {batch}: 98% after {}, 99% after {} of training (last test accuracy {:.2}%, checked every {every} images)", engine.name(), show(reached[0]), show(reached[1]), 100.0 * last);
    }
    Ok(())
}
