//! `wgpu-mnist train`: trains a preset (or continues a saved model) on either engine,
//! with a progress bar, one line per epoch, and the model saved after every epoch.

use std::io::Write;
use std::time::Instant;

use wgpu_mnist::model::{safetensors, summary, Net, Spec};
use wgpu_mnist::ops::optim::{Optimizer, Schedule};
use wgpu_mnist::train::{TrainConfig, Trainer};
use wgpu_mnist::Error;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The preset to train from scratch.
    #[arg(long, default_value = "pytorch-cnn", value_parser = super::preset_names(), conflicts_with = "load")]
    model: String,
    /// Continue training this model file instead (the optimizer's moments start afresh).
    #[arg(long, value_name = "FILE")]
    load: Option<String>,
    /// Epochs (default: the preset's recipe).
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step (default: the preset's recipe).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    batch: Option<u32>,
    /// The optimizer, with its framework's defaults (default: the preset's recipe).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Optimizer::NAMES))]
    optimizer: Option<String>,
    /// The learning-rate schedule, with PyTorch's defaults (default: the preset's recipe;
    /// one-cycle peaks at --lr).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Schedule::NAMES))]
    schedule: Option<String>,
    /// The learning rate (a finite positive number).
    #[arg(long, value_parser = super::positive_finite)]
    lr: Option<f32>,
    /// Seeds the initialisation, the shuffle and the dropout masks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the model here after every epoch (safetensors, with the recipe used).
    #[arg(long, value_name = "FILE")]
    save: Option<String>,
    /// Hold out this fraction of the training set for validation (default: the recipe's).
    #[arg(long, value_parser = super::fraction)]
    validation_split: Option<f32>,
    #[command(flatten)]
    engine: super::EngineArgs,
    #[command(flatten)]
    data: super::DataArgs,
}

pub async fn run(args: TrainArgs) -> Result<(), Error> {
    let engine = super::engine(&args.engine).await?;
    let model = match &args.load {
        Some(path) => super::load_model(&engine, path)?,
        None => Net::new(&engine, &super::preset(&args.model)?, args.seed)?,
    };
    let mut spec = model.spec().clone();
    let mut config = TrainConfig::from_spec(&spec, args.seed);
    if let Some(name) = &args.optimizer {
        config.optimizer = Optimizer::named(name).expect("clap checked the name");
    }
    if let Some(name) = &args.schedule {
        config.schedule = Schedule::named(name).expect("clap checked the name");
    }
    if let Some(lr) = args.lr {
        config.optimizer = config.optimizer.with_lr(lr);
    }
    config.batch = args.batch.map_or(config.batch, |b| b as usize);
    config.epochs = args.epochs.unwrap_or(config.epochs);
    config.validation_split = args.validation_split.unwrap_or(config.validation_split);
    // A saved file records the recipe it was trained with, not the preset's default.
    (spec.optimizer, spec.schedule, spec.batch, spec.validation_split) =
        (config.optimizer, config.schedule, config.batch, config.validation_split);
    let data = super::load_data(&args.data)?;
    print!("{}", summary(&spec)?);
    println!(
        "optimizer {:?}, schedule {:?}, batch {}, {} epochs, seed {}",
        config.optimizer, config.schedule, config.batch, config.epochs, args.seed
    );
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
        if let Some(path) = &args.save {
            save(path, &spec, &trainer).await?;
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
    if let (Some(path), 0) = (&args.save, config.epochs) {
        save(path, &spec, &trainer).await?;
    }
    Ok(())
}

async fn save(path: &str, spec: &Spec, trainer: &Trainer) -> Result<(), Error> {
    let bytes = safetensors::to_bytes(spec, &trainer.model.read_tensors().await?);
    std::fs::write(path, bytes).map_err(|e| Error::BadFile(format!("{path}: cannot write it ({e})")))?;
    println!("saved {path}");
    Ok(())
}
