//! `wgpu-mnist bench`: prints the benchmark tables (src/benchmark.rs) for this machine,
//! per engine: training images/s, inference latency, a per-kernel (GPU) or per-layer
//! (CPU) breakdown of one step, and optionally the training time to 98% and 99%.

use wgpu_mnist::benchmark::{rows, time_to_accuracy, Prepare};
use wgpu_mnist::model::{Engine, Net};
use wgpu_mnist::Error;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BenchEngine {
    /// The GPU engine when wgpu finds an adapter, and the CPU engine.
    Both,
    Auto,
    Gpu,
    Cpu,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Presets, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "pytorch-cnn", value_parser = super::preset_names())]
    models: Vec<String>,
    /// Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,200", value_parser = clap::value_parser!(u32).range(1..))]
    batches: Vec<u32>,
    /// Timed windows per row (their median is reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    windows: u32,
    /// Images per window, at least.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    images: u32,
    /// Also print the time of each kernel (GPU) or layer (CPU) of one step.
    #[arg(long)]
    profile: bool,
    /// Only measure the CPU's f32 multiply-add peak, per ISA, on one thread and on all.
    #[arg(long, conflicts_with_all = ["profile", "time_to_accuracy"])]
    peak: bool,
    /// Also train these presets (comma-separated), each by its own recipe, and report the
    /// training time to 98% and 99% test accuracy.
    #[arg(long, value_name = "PRESETS", value_delimiter = ',', value_parser = super::preset_names())]
    time_to_accuracy: Vec<String>,
    /// Test-set checks per epoch of --time-to-accuracy (off the clock).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    checks_per_epoch: u32,
    /// Only --time-to-accuracy: skip the throughput table.
    #[arg(long, requires = "time_to_accuracy")]
    only_time_to_accuracy: bool,
    /// Which engines to benchmark.
    #[arg(long, value_enum, default_value_t = BenchEngine::Both)]
    engine: BenchEngine,
    /// Threads of the CPU engine (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(flatten)]
    data: super::DataArgs,
}

pub async fn run(args: BenchArgs) -> Result<(), Error> {
    if args.peak {
        super::set_threads(args.threads)?;
        return Ok(peak_table());
    }
    let pick = |engine| super::EngineArgs { engine, threads: args.threads };
    let engines: Vec<Engine> = match args.engine {
        BenchEngine::Both => {
            super::set_threads(args.threads)?;
            let (engines, missing) = Engine::all().await;
            if let Some(why) = missing {
                println!("GPU engine skipped: {why}");
            }
            engines
        }
        BenchEngine::Auto => vec![super::engine(&pick(super::EngineArg::Auto)).await?],
        BenchEngine::Gpu => vec![super::engine(&pick(super::EngineArg::Gpu)).await?],
        BenchEngine::Cpu => vec![super::engine(&pick(super::EngineArg::Cpu)).await?],
    };
    let loading = std::time::Instant::now();
    let data = super::load_data(&args.data)?;
    println!("data loaded in {:.2} s", loading.elapsed().as_secs_f64());
    for engine in &engines {
        run_engine(engine, &args, &data).await?;
    }
    Ok(())
}

async fn run_engine(engine: &Engine, args: &BenchArgs, data: &wgpu_mnist::data::Mnist) -> Result<(), Error> {
    let (windows, images) = (args.windows as usize, args.images as usize);
    let batches: Vec<usize> = args.batches.iter().map(|&b| b as usize).collect();
    let profile = args.profile;
    let peak = engine.peak_gflops().await?;
    let peak_text = peak.map(|p| format!("; measured f32 peak {p:.1} GFLOP/s")).unwrap_or_default();
    println!("\nengine {}: {}{peak_text}", engine.name(), engine.describe());
    if !args.time_to_accuracy.is_empty() {
        time_to_accuracy_table(engine, args, data).await?;
    }
    if args.only_time_to_accuracy {
        return Ok(());
    }
    println!(
        "| engine | model | batch | train img/s (median of {windows}) | GFLOP/s{} | 1-image inference ms | 1000-image inference ms |",
        if peak.is_some() { " (% of peak)" } else { "" }
    );
    println!("|---|---|---|---|---|---|---|");
    let specs = args.models.iter().map(|name| super::preset(name)).collect::<Result<Vec<_>, _>>()?;
    rows(engine, &specs, &batches, windows, images, data, &mut CliPrepare, |r| {
        let share = peak.map(|p| format!(" ({:.0}%)", 100.0 * r.gflops / p)).unwrap_or_default();
        println!(
            "| {} | {} | {} | {:.0} | {:.2}{share} | {:.2} | {:.1} |",
            engine.name(),
            r.model,
            r.batch,
            r.train_images_per_s,
            r.gflops,
            r.infer_1_ms,
            r.infer_1000_ms
        );
    })
    .await?;
    if profile {
        let batch = batches[0];
        for name in &args.models {
            let spec = super::preset(name)?;
            let mut net = Net::new(engine, &spec, 1)?;
            let tuned = super::autotune(&mut net, batch).await?;
            let (rows, title) = net.step_profile(data, batch, 5).await?;
            let total: f64 = rows.iter().map(|r| r.1).sum();
            let flops = cpu_row_flops(engine, &net, batch, rows.len());
            println!("\n{} engine: time of one {name} step at batch {batch} {title}:", engine.name());
            if flops.is_some() {
                println!("  {:<40} {:>8}  {:>6}  {:>8}  {}", "", "ms", "share", "GFLOP/s", "of peak");
            }
            for (i, (label, ms)) in rows.iter().enumerate() {
                let rate = match (&flops, peak) {
                    (Some(f), Some(p)) if f[i] > 0.0 => format!("  {:8.1}  {:5.1}%", f[i] / ms / 1e6, 100.0 * f[i] / ms / 1e6 / p),
                    _ => String::new(),
                };
                println!("  {label:<40} {ms:8.2}  {:5.1}%{rate}", 100.0 * ms / total);
            }
            let rate = match (&flops, peak) {
                (Some(f), Some(p)) => {
                    format!("  {:8.1}  {:5.1}%", f.iter().sum::<f64>() / total / 1e6, 100.0 * f.iter().sum::<f64>() / total / 1e6 / p)
                }
                _ => String::new(),
            };
            println!("  {:<40} {total:8.2}  {:>6}{rate}", "total", "");
            tuned.print();
        }
    }
    Ok(())
}

/// The headline: per preset, training seconds to 98% and 99% test accuracy by its recipe.
async fn time_to_accuracy_table(engine: &Engine, args: &BenchArgs, data: &wgpu_mnist::data::Mnist) -> Result<(), Error> {
    let checks = args.checks_per_epoch as usize;
    println!("| engine | preset | batch | to 98% | to 99% | last test accuracy measured (epochs begun) | setup s (not timed) |");
    println!("|---|---|---|---|---|---|---|");
    for name in &args.time_to_accuracy {
        let spec = super::preset(name)?;
        let mut net = Net::new(engine, &spec, 1)?;
        super::autotune(&mut net, spec.batch).await?;
        let r = time_to_accuracy(net, data, &[0.98, 0.99], checks).await?;
        let show = |r: Option<f64>| r.map(|s| format!("{s:.1} s")).unwrap_or_else(|| "not reached".into());
        println!(
            "| {} | {name} | {} | {} | {} | {:.2}% ({}) | {:.2} |",
            engine.name(),
            r.batch,
            show(r.reached[0]),
            show(r.reached[1]),
            100.0 * r.last_accuracy,
            r.epochs,
            r.setup_s
        );
    }
    println!(
        "(training time only, the test set checked {checks} times an epoch off the clock; each run stops once both are reached; seed 1)\n"
    );
    Ok(())
}

/// The command line's networks: kernels chosen through the kernel cache file.
struct CliPrepare;

impl Prepare for CliPrepare {
    async fn tune(&mut self, net: &mut Net, batch: usize) -> Result<(), Error> {
        super::autotune(net, batch).await.map(|_| ())
    }
}

/// The FLOPs of each row of a CPU step profile (every layer's forward, then every layer's
/// backward from the last, then the update), or None where the rows are not those.
fn cpu_row_flops(engine: &Engine, net: &Net, batch: usize, rows: usize) -> Option<Vec<f64>> {
    if !matches!(engine, Engine::Cpu) {
        return None;
    }
    let passes = wgpu_mnist::benchmark::pass_flops_per_example(net.layers());
    if rows != 2 * passes.len() + 1 {
        return None;
    }
    let b = batch as f64;
    Some(passes.iter().map(|p| p.0 * b).chain(passes.iter().rev().map(|p| p.1 * b)).chain([0.0]).collect())
}

/// `bench --peak`: the CPU's f32 multiply-add peak per ISA, one thread and all of them.
fn peak_table() {
    let all = wgpu_mnist::cpu::par::threads();
    let threads: Vec<usize> = if all > 1 { vec![1, all] } else { vec![1] };
    println!("| ISA | threads | peak GFLOP/s | per thread |");
    println!("|---|---|---|---|");
    for p in wgpu_mnist::cpu::peak::table(&threads) {
        println!("| {} | {} | {:.1} | {:.1} |", p.isa, p.threads, p.gflops, p.gflops / p.threads as f64);
    }
}
