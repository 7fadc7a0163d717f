//! The native command line: train a preset, evaluate a saved model, print a summary,
//! benchmark. Thin over the library; the same engine as the browser's.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use wgpu_mnist::data::{Mnist, DEFAULT_DIR};
use wgpu_mnist::model::{safetensors, summary, Engine, EngineChoice, Net, Spec, PRESETS};
use wgpu_mnist::ops::optim::Optimizer;
use wgpu_mnist::train::{Predictor, TrainConfig, Trainer, PIXEL_SCALE};
use wgpu_mnist::Error;

const USAGE: &str = "usage:
  wgpu-mnist train --model NAME [--epochs N] [--batch N] [--optimizer sgd|nesterov|adam|rmsprop|adadelta]
                   [--lr X] [--seed N] [--save FILE] [--load FILE] [--data DIR]
                   [--train-limit N] [--test-limit N] [--validation-split X]
                   [--engine gpu|cpu|auto] [--threads N]
  wgpu-mnist eval --load FILE [--data DIR] [--engine gpu|cpu|auto] [--threads N]
  wgpu-mnist summary --model NAME
  wgpu-mnist bench [--models a,b] [--batches 64,200] [--windows N] [--images N]
                   [--engine gpu|cpu|auto|both] [--threads N] [--profile 1]
                   [--time-to-accuracy NAME] [--check-every N]
engines: auto (the default) trains on a hardware GPU if wgpu finds one, else on the CPU
engine; --threads sets the CPU engine's threads (default: all cores)
presets: pytorch-cnn, pytorch-cnn-3x3, pytorch-convnet, lenet, mindspore, keras-bn, keras-bn-rows";

/// Command-line options as `--key value` pairs.
pub struct Args(Vec<(String, String)>);

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let key = k.strip_prefix("--").ok_or_else(|| format!("unexpected argument '{k}'"))?;
            let value = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            out.push((key.to_string(), value.clone()));
        }
        Ok(Args(out))
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn num<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String> {
        self.get(key).map(|v| v.parse::<T>().map_err(|_| format!("--{key}: '{v}' is not a number"))).transpose()
    }
}

pub fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some(cmd @ ("train" | "eval" | "summary" | "bench")) => Args::parse(&argv[1..]).and_then(|a| run(cmd, &a)),
        _ => Err(USAGE.to_string()),
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn run(cmd: &str, args: &Args) -> Result<(), String> {
    let text = |e: Error| e.to_string();
    if let Some(n) = args.num::<usize>("threads")? {
        if n == 0 {
            return Err("--threads must be at least 1".into());
        }
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().map_err(|e| format!("--threads: {e}"))?;
    }
    match cmd {
        "summary" => {
            let spec = preset(args.get("model").unwrap_or("pytorch-cnn"))?;
            print!("{}", summary(&spec).map_err(text)?);
            Ok(())
        }
        "train" => pollster::block_on(train(args)).map_err(text),
        "eval" => pollster::block_on(eval(args)).map_err(text),
        "bench" => pollster::block_on(crate::bench::run(args)).map_err(text),
        _ => unreachable!(),
    }
}

pub fn preset(name: &str) -> Result<Spec, String> {
    Spec::preset(name).ok_or_else(|| format!("no preset '{name}'; presets: {}", PRESETS.join(", ")))
}

/// The optimizer named on the command line (PyTorch/Keras defaults), or the spec's.
fn optimizer(args: &Args, spec: &Spec) -> Result<Optimizer, String> {
    let lr = args.num::<f32>("lr")?;
    let mut opt = match args.get("optimizer") {
        None => spec.optimizer,
        Some("sgd") => Optimizer::Sgd { lr: 0.01, momentum: 0.9, nesterov: false, weight_decay: 0.0 },
        Some("nesterov") => Optimizer::Sgd { lr: 0.01, momentum: 0.9, nesterov: true, weight_decay: 0.0 },
        Some("adam") => Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
        Some("rmsprop") => wgpu_mnist::model::spec::keras_rmsprop(),
        Some("adadelta") => wgpu_mnist::model::spec::keras_adadelta(),
        Some(other) => return Err(format!("no optimizer '{other}' (sgd, nesterov, adam, rmsprop, adadelta)")),
    };
    if let Some(lr) = lr {
        match &mut opt {
            Optimizer::Sgd { lr: l, .. }
            | Optimizer::Adam { lr: l, .. }
            | Optimizer::RmsProp { lr: l, .. }
            | Optimizer::Adadelta { lr: l, .. } => *l = lr,
        }
    }
    Ok(opt)
}

fn load_data(args: &Args) -> Result<Mnist, Error> {
    let dir = PathBuf::from(args.get("data").unwrap_or(DEFAULT_DIR));
    let mut data = Mnist::load(&dir)?;
    let bad = |e: String| Error::Shape(e);
    if let Some(n) = args.num::<usize>("train-limit").map_err(bad)? {
        data.train = data.train.take(n);
    }
    if let Some(n) = args.num::<usize>("test-limit").map_err(bad)? {
        data.test = data.test.take(n);
    }
    Ok(data)
}

/// Reads a model file into a network on `engine`.
fn load_model(engine: &Engine, path: &str) -> Result<Net, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::BadFile(format!("{path}: cannot read it ({e})")))?;
    let (spec, values) = safetensors::from_bytes(path, &bytes)?;
    Net::with_values(engine, &spec, &values)
}

/// The engine `--engine` asks for (auto by default), announced with the reason.
pub async fn engine(args: &Args) -> Result<Engine, Error> {
    let choice: EngineChoice = args.get("engine").unwrap_or("auto").parse().map_err(Error::Shape)?;
    let (engine, why) = Engine::choose(choice).await?;
    println!("engine: {}, because {why}", engine.describe());
    Ok(engine)
}

async fn train(args: &Args) -> Result<(), Error> {
    let bad = |e: String| Error::Shape(e);
    let seed = args.num::<u64>("seed").map_err(bad)?.unwrap_or(1);
    let spec = match args.get("load") {
        Some(_) => None,
        None => Some(preset(args.get("model").unwrap_or("pytorch-cnn")).map_err(bad)?),
    };
    let engine = engine(args).await?;
    let model = match (args.get("load"), &spec) {
        (Some(path), _) => load_model(&engine, path)?,
        (None, Some(spec)) => Net::new(&engine, spec, seed)?,
        (None, None) => unreachable!(),
    };
    let mut spec = model.spec().clone();
    let mut config = TrainConfig::from_spec(&spec, seed);
    config.optimizer = optimizer(args, &spec).map_err(bad)?;
    config.batch = args.num("batch").map_err(bad)?.unwrap_or(config.batch);
    config.epochs = args.num("epochs").map_err(bad)?.unwrap_or(config.epochs);
    config.validation_split = args.num("validation-split").map_err(bad)?.unwrap_or(config.validation_split);
    // A saved file records the recipe it was trained with, not the preset's default.
    (spec.optimizer, spec.batch, spec.validation_split) = (config.optimizer, config.batch, config.validation_split);
    let data = load_data(args)?;
    print!("{}", summary(&spec)?);
    println!("optimizer {:?}, batch {}, {} epochs, seed {seed}", config.optimizer, config.batch, config.epochs);
    let mut trainer = Trainer::new(model, config, &data)?;
    let report_every = (2000 / config.batch).max(1);
    let started = Instant::now();
    let mut last = None;
    for _ in 0..config.epochs {
        trainer.begin_epoch();
        let t0 = Instant::now();
        let (mut loss, mut correct, mut seen) = (0.0, 0.0, 0usize);
        while !trainer.epoch_done() {
            let m = trainer.train_steps(report_every).await?;
            loss += m.loss * m.examples as f64;
            correct += m.accuracy * m.examples as f64;
            seen += m.examples;
            let done = trainer.step_in_epoch as f64 / trainer.steps_per_epoch as f64;
            let bar: String = (0..30).map(|i| if (i as f64) < done * 30.0 { '#' } else { '.' }).collect();
            print!(
                "\repoch {} [{bar}] {:3.0}%  loss {:.4}  acc {:.2}%  {:.0} img/s ",
                trainer.epoch,
                done * 100.0,
                loss / seen as f64,
                100.0 * correct / seen as f64,
                seen as f64 / t0.elapsed().as_secs_f64()
            );
            std::io::stdout().flush().ok();
        }
        let train_secs = t0.elapsed().as_secs_f64();
        let val = trainer.evaluate_validation().await?;
        let test = trainer.evaluate_test().await?;
        let val_text = val.map(|v| format!("  val acc {:.2}%", 100.0 * v.accuracy)).unwrap_or_default();
        println!(
            "\repoch {}  train loss {:.4}  train acc {:.2}%{val_text}  test loss {:.4}  test acc {:.2}%  {:.1} s  {:.0} img/s",
            trainer.epoch,
            loss / seen as f64,
            100.0 * correct / seen as f64,
            test.loss,
            100.0 * test.accuracy,
            train_secs,
            seen as f64 / train_secs
        );
        last = Some(test);
        // Saved after every epoch, so a long run that is stopped keeps its last epoch.
        if let Some(path) = args.get("save") {
            save(path, &spec, &mut trainer).await?;
        }
    }
    if let Some(t) = last {
        println!(
            "done: {} epochs in {:.1} s; test accuracy {:.2}% on {} images",
            config.epochs,
            started.elapsed().as_secs_f64(),
            100.0 * t.accuracy,
            t.examples
        );
    }
    if let (Some(path), 0) = (args.get("save"), config.epochs) {
        save(path, &spec, &mut trainer).await?;
    }
    Ok(())
}

async fn save(path: &str, spec: &Spec, trainer: &mut Trainer) -> Result<(), Error> {
    let bytes = safetensors::to_bytes(spec, &trainer.model.read_tensors().await?);
    std::fs::write(path, bytes).map_err(|e| Error::BadFile(format!("{path}: cannot write it ({e})")))?;
    println!("saved {path}");
    Ok(())
}

async fn eval(args: &Args) -> Result<(), Error> {
    let path = args.get("load").ok_or_else(|| Error::BadFile("eval needs --load FILE".into()))?;
    let engine = engine(args).await?;
    let mut model = load_model(&engine, path)?;
    let data = load_data(args)?;
    let n = data.test.len().min(1000);
    let mut predictor = Predictor::new(&model, n)?;
    let (mut correct, mut total) = (0, 0);
    for start in (0..data.test.len() - data.test.len() % n).step_by(n) {
        let images: Vec<f32> = data.test.images.pixels[start * 784..(start + n) * 784].iter().map(|&p| p as f32 * PIXEL_SCALE).collect();
        let probs = predictor.run(&mut model, &images).await?;
        for (i, row) in probs.chunks(10).enumerate() {
            let guess = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            correct += (guess == data.test.labels[start + i] as usize) as usize;
            total += 1;
        }
    }
    println!("{path}: {} — test accuracy {:.2}% on {total} images", model.spec().name, 100.0 * correct as f64 / total as f64);
    Ok(())
}
