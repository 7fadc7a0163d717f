//! The native command line: train a preset, evaluate a saved model, explain one of its
//! answers, print a summary, benchmark. Thin over the library (one file per command);
//! clap refuses unknown flags, missing values and values out of range with a usage line,
//! before any work starts.

mod bench;
mod eval;
mod explain;
mod png_maps;
mod summary;
mod train;
mod tune;

pub use tune::autotune;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use wgpu_mnist::data::{Mnist, DEFAULT_DIR};
use wgpu_mnist::model::{safetensors, Engine, EngineChoice, Net, Spec, PRESETS};
use wgpu_mnist::Error;

#[derive(Parser)]
#[command(name = "wgpu-mnist", version, about = "Train convolutional networks on MNIST: on the GPU through wgpu, or on the CPU engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a preset (or continue a saved model) and report accuracy on the test set.
    Train(train::TrainArgs),
    /// Measure a saved model's accuracy on the test set.
    Eval(eval::EvalArgs),
    /// Explain a saved model's answer for one test image: saliency and every layer's maps
    /// as PNG files (and the raw values as safetensors).
    Explain(explain::ExplainArgs),
    /// Print a preset's layers and parameter counts.
    Summary(summary::SummaryArgs),
    /// Benchmark training and inference speed, per engine and preset.
    Bench(bench::BenchArgs),
}

/// Which engine runs the work.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EngineArg {
    /// A hardware GPU if wgpu finds one, else the CPU engine.
    Auto,
    Gpu,
    Cpu,
}

/// The engine options every command that computes shares.
#[derive(clap::Args)]
pub struct EngineArgs {
    /// gpu, cpu, or auto (a hardware GPU if wgpu finds one, else the CPU engine).
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Threads of the CPU engine (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

/// Where the data set is, and subsets for quick runs.
#[derive(clap::Args)]
pub struct DataArgs {
    /// The folder with the four MNIST IDX files.
    #[arg(long, default_value = DEFAULT_DIR)]
    data: PathBuf,
    /// Use only the first N training images.
    #[arg(long, value_name = "N")]
    train_limit: Option<usize>,
    /// Use only the first N test images.
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
}

pub fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => pollster::block_on(train::run(a)),
        Command::Eval(a) => pollster::block_on(eval::run(a)),
        Command::Explain(a) => pollster::block_on(explain::run(a)),
        Command::Summary(a) => summary::run(a),
        Command::Bench(a) => pollster::block_on(bench::run(a)),
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

/// A preset by name (clap checks names against `PRESETS` first).
pub fn preset(name: &str) -> Result<Spec, Error> {
    Spec::preset(name).ok_or_else(|| Error::Shape(format!("no preset '{name}'; presets: {}", PRESETS.join(", "))))
}

/// The value parser of preset names.
pub fn preset_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(PRESETS)
}

/// The engine asked for, announced with the reason it was picked; sets the CPU threads.
pub async fn engine(args: &EngineArgs) -> Result<Engine, Error> {
    set_threads(args.threads)?;
    let choice = match args.engine {
        EngineArg::Auto => EngineChoice::Auto,
        EngineArg::Gpu => EngineChoice::Gpu,
        EngineArg::Cpu => EngineChoice::Cpu,
    };
    let (engine, why) = Engine::choose(choice).await?;
    println!("engine: {}, because {why}", engine.describe());
    Ok(engine)
}

/// Sizes the CPU engine's thread pool (once, before it is first used).
pub fn set_threads(threads: Option<u16>) -> Result<(), Error> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new().num_threads(n as usize).build_global().map_err(|e| Error::Shape(format!("--threads: {e}")))?;
    }
    Ok(())
}

/// The data set, cut to the asked subsets.
pub fn load_data(args: &DataArgs) -> Result<Mnist, Error> {
    let mut data = Mnist::load(&args.data)?;
    if let Some(n) = args.train_limit {
        data.train = data.train.take(n);
    }
    if let Some(n) = args.test_limit {
        data.test = data.test.take(n);
    }
    Ok(data)
}

/// Reads a model file into a network on `engine`.
pub fn load_model(engine: &Engine, path: &str) -> Result<Net, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::BadFile(format!("{path}: cannot read it ({e})")))?;
    let (spec, values) = safetensors::from_bytes(path, &bytes)?;
    Net::with_values(engine, &spec, &values)
}

/// Writes `bytes` to `path` whole: beside it first, then renamed, so a crash mid-write
/// never leaves half a file.
pub fn write_file(path: &str, bytes: &[u8]) -> Result<(), Error> {
    // Test-only: writes to this path fail, as a full disk or a removed directory would
    // (tests/train.rs: a save that fails after training began).
    if std::env::var("WGPU_MNIST_TEST_FAIL_WRITES_TO").is_ok_and(|p| p == path) {
        return Err(Error::CannotWrite(format!("{path}: the test hook WGPU_MNIST_TEST_FAIL_WRITES_TO refused it")));
    }
    let partial = format!("{path}.partial");
    std::fs::write(&partial, bytes).and_then(|_| std::fs::rename(&partial, path)).map_err(|e| Error::CannotWrite(format!("{path} ({e})")))
}

/// Fails now, naming the flag, if `path` cannot be written (a missing directory, a
/// directory in its place); creates nothing that was not there. Commands check every
/// output this way before their work, so a bad path fails at once, not after it.
pub fn check_writable(flag: &str, path: &str) -> Result<(), Error> {
    let probe = format!("{path}.partial");
    let existed = std::path::Path::new(&probe).exists();
    let result = std::fs::OpenOptions::new().append(true).create(true).open(&probe);
    if !existed {
        let _ = std::fs::remove_file(&probe);
    }
    match result {
        Ok(_) if std::path::Path::new(path).is_dir() => Err(Error::CannotWrite(format!("{flag} {path}: it is a directory"))),
        Ok(_) => Ok(()),
        Err(e) => Err(Error::CannotWrite(format!("{flag} {path}: {e}"))),
    }
}

/// A learning rate: a finite positive number.
pub fn positive_finite(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("{v} is not a finite positive number")),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
}

/// A fraction in [0, 1).
pub fn fraction(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is not in [0, 1)")),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
}
