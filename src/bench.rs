//! `wgpu-mnist bench`: prints the benchmark table (src/benchmark.rs) for this machine.

use crate::cli::{preset, Args};
use wgpu_mnist::benchmark::{
    inference_latency, kernel_profile, peak_gflops, profile_graph, time_to_accuracy, train_flops_per_example, train_throughput,
};
use wgpu_mnist::data::{Mnist, DEFAULT_DIR};
use wgpu_mnist::model::Model;
use wgpu_mnist::{Error, Gpu};

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
    let images = args.num::<usize>("images").map_err(bad)?.unwrap_or(2000);
    let peak = peak_gflops(&gpu).await?;
    println!("device: {}; measured f32 peak {peak:.1} GFLOP/s", gpu.describe());
    println!(
        "| model | batch | train img/s (median of {windows}) | GFLOP/s (% of peak) | 1-image inference ms | 1000-image inference ms |"
    );
    println!("|---|---|---|---|---|---|");
    for name in &models {
        let spec = preset(name).map_err(bad)?;
        let model = Model::new(&gpu, &spec, 1)?;
        let flops = train_flops_per_example(&model);
        let one = inference_latency(&gpu, &model, &data, 1, 21).await?;
        let thousand = inference_latency(&gpu, &model, &data, 1000, 3).await?;
        for &batch in &batches {
            let rate = train_throughput(&gpu, &spec, &data, batch, windows, images).await?;
            let gflops = rate * flops / 1e9;
            println!("| {name} | {batch} | {rate:.0} | {gflops:.2} ({:.0}%) | {one:.2} | {thousand:.1} |", 100.0 * gflops / peak);
        }
    }
    if args.get("profile").is_some() {
        for name in &models {
            let spec = preset(name).map_err(bad)?;
            let batch = batches[0];
            let (_model, graph) = profile_graph(&gpu, &spec, batch)?;
            let rows = kernel_profile(&gpu, &graph, 3).await?;
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
        let (reached, last) = time_to_accuracy(&gpu, &spec, &data, batch, &[0.98, 0.99], 3, every).await?;
        let show = |r: Option<f64>| r.map(|s| format!("{s:.1} s")).unwrap_or_else(|| "not reached".into());
        println!("\n{target_model} batch {batch}: 98% after {}, 99% after {} of training (last test accuracy {:.2}%, checked every {every} images)", show(reached[0]), show(reached[1]), 100.0 * last);
    }
    Ok(())
}
