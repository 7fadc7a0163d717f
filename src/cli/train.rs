//! `wgpu-mnist train`: trains a preset (or continues a saved model or a checkpoint) on
//! either engine, with a progress bar and one line per epoch. The model is saved after
//! every epoch; a checkpoint (weights, optimizer state, position) is kept in memory and,
//! with --checkpoint, on disk every epoch and every --checkpoint-every seconds. When
//! training fails (a diverging loss, a lost GPU), the weights go back to the last good
//! checkpoint, which is saved, and the message names it.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use wgpu_mnist::desc::optim::{Optimizer, Schedule};
use wgpu_mnist::model::{safetensors, summary, Engine, Net, Spec};
use wgpu_mnist::train::log::{self, Kind, Window};
use wgpu_mnist::train::{checkpoint, TrainConfig, Trainer};
use wgpu_mnist::Error;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The preset to train from scratch.
    #[arg(long, default_value = "pytorch-cnn", value_parser = super::preset_names(), conflicts_with_all = ["load", "resume"])]
    model: String,
    /// Continue training this model file instead (the optimizer's moments start afresh).
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    load: Option<String>,
    /// Resume this checkpoint exactly where it stopped (its recipe, optimizer state, step
    /// and shuffle); it is updated as training goes on unless --checkpoint names another.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["batch", "optimizer", "schedule", "lr", "seed", "validation_split"])]
    resume: Option<String>,
    /// Epochs (default: the preset's recipe; with --resume, the checkpoint's).
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
    #[arg(long)]
    seed: Option<u64>,
    /// Write the model here after every epoch (safetensors, with the recipe used).
    #[arg(long, value_name = "FILE")]
    save: Option<String>,
    /// Write a resumable checkpoint here (see --resume).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<String>,
    /// Append the run's metric windows to this CSV file (created with its header): one row
    /// per window of about 2,000 training images and one per evaluation.
    #[arg(long, value_name = "FILE.csv")]
    log: Option<String>,
    /// Seconds of training between checkpoints (and at every epoch's end).
    #[arg(long, default_value_t = 30.0, value_parser = super::positive_finite)]
    checkpoint_every: f32,
    /// Hold out this fraction of the training set for validation (default: the recipe's).
    #[arg(long, value_parser = super::fraction)]
    validation_split: Option<f32>,
    #[command(flatten)]
    engine: super::EngineArgs,
    #[command(flatten)]
    data: super::DataArgs,
}

pub async fn run(args: TrainArgs) -> Result<(), Error> {
    // Every output is checked before any work: a path that cannot be written fails now,
    // not after an epoch of training.
    for (flag, path) in [("--save", &args.save), ("--checkpoint", &args.checkpoint), ("--resume", &args.resume), ("--log", &args.log)] {
        if let Some(path) = path {
            super::check_writable(flag, path).map_err(|e| e.map_message(|m| format!("{m}; nothing was trained")))?;
        }
    }
    let engine = super::engine(&args.engine).await?;
    let data = super::load_data(&args.data)?;
    let mut trainer = match &args.resume {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| Error::BadFile(format!("{path}: cannot read it ({e})")))?;
            let t = checkpoint::resume(&engine, path, &bytes, &data, args.epochs)?;
            println!("resumed {path} at epoch {} step {} of {}", t.epoch, t.step_in_epoch, t.steps_per_epoch);
            t
        }
        None => {
            let seed = args.seed.unwrap_or(1);
            let mut model = match &args.load {
                Some(path) => super::load_model(&engine, path)?,
                None => Net::new(&engine, &super::preset(&args.model)?, seed)?,
            };
            let config = config_of(&args, TrainConfig::from_spec(model.spec(), seed));
            super::autotune(&mut model, config.batch).await?;
            Trainer::new(model, config, &data)?
        }
    };
    let config = trainer.config;
    // A saved file records the recipe it was trained with, not the preset's default.
    let mut spec = trainer.model.spec().clone();
    (spec.optimizer, spec.schedule, spec.batch, spec.validation_split) =
        (config.optimizer, config.schedule, config.batch, config.validation_split);
    print!("{}", summary(&spec)?);
    println!(
        "optimizer {:?}, schedule {:?}, batch {}, {} epochs, seed {}",
        config.optimizer, config.schedule, config.batch, config.epochs, config.seed
    );
    let mut log = MetricsLog::open(args.log.as_deref())?;
    let checkpoint_path = args.checkpoint.clone().or(args.resume.clone());
    let mut keeper = Keeper { path: checkpoint_path, last: None, every_s: args.checkpoint_every as f64, taken: Instant::now() };
    keeper.take(&trainer).await?;
    match train(&mut trainer, &args, &spec, &mut keeper, &mut log).await {
        Ok(None) => Ok(()),
        // Trained, but --save could not be written: the model went to a file of its own.
        Ok(Some(rescued)) => Err(Error::CannotWrite(format!(
            "{}: the trained model could not be saved there and was saved to {rescued} instead",
            args.save.as_deref().unwrap_or_default()
        ))),
        Err(e) => Err(keeper.roll_back(e, &args, &spec).await),
    }
}

/// The recipe with the command line's overrides.
fn config_of(args: &TrainArgs, mut config: TrainConfig) -> TrainConfig {
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
    config
}

/// The last good checkpoint: in memory always, on disk when a path was given.
struct Keeper {
    path: Option<String>,
    last: Option<(Vec<u8>, usize, usize)>,
    every_s: f64,
    taken: Instant,
}

impl Keeper {
    /// Takes a checkpoint now (and writes it, with a path).
    async fn take(&mut self, trainer: &Trainer) -> Result<(), Error> {
        let bytes = checkpoint::to_bytes(trainer).await?;
        if let Some(path) = &self.path {
            super::write_file(path, &bytes)?;
        }
        self.last = Some((bytes, trainer.epoch, trainer.step_in_epoch));
        self.taken = Instant::now();
        Ok(())
    }

    /// Takes one when `every_s` seconds have passed since the last.
    async fn maybe_take(&mut self, trainer: &Trainer) -> Result<(), Error> {
        if self.taken.elapsed().as_secs_f64() >= self.every_s {
            self.take(trainer).await?;
        }
        Ok(())
    }

    /// After a failure: the weights go back to the last good checkpoint, which is saved
    /// (to --checkpoint, and the model to --save; else, or where those cannot be written,
    /// to a file in the working directory), and the error says where training stood and
    /// where the work is.
    async fn roll_back(&self, e: Error, args: &TrainArgs, spec: &Spec) -> Error {
        println!();
        let Some((bytes, epoch, step)) = &self.last else { return e };
        let rescue = format!("{}-rescued-checkpoint.safetensors", spec.name);
        let at = if *epoch == 0 { "the starting weights".to_string() } else { format!("epoch {epoch} step {step}") };
        let kept = write_or_rescue(self.path.as_deref(), &rescue, bytes);
        // The model file too, from the checkpoint (through the CPU engine: the GPU may be gone).
        let saved = match (&args.save, &kept) {
            (Some(path), Ok(_)) => {
                match checkpoint::parse("the last checkpoint", bytes).and_then(|c| Net::with_values(&Engine::Cpu, &c.spec, &c.values)) {
                    Ok(net) => save_net(path, spec, &net).await.map(|at| format!("; the model file {at} holds its weights")),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(String::new()),
        };
        let how = match (kept, saved) {
            (Ok(path), Ok(s)) => format!(
                "The weights went back to the last good checkpoint: its checkpoint ({at}) is in {path}{s}. Resume with --resume {path}."
            ),
            (Err(w), _) | (_, Err(w)) => format!("Saving the last good checkpoint failed too: {w}."),
        };
        e.map_message(|m| format!("{m}. {how}"))
    }
}

/// The epochs left: a progress bar, a line per epoch, the model saved after every epoch,
/// checkpoints as the keeper says.
/// Resolves to the file the model went to instead of --save, if --save failed.
async fn train(
    trainer: &mut Trainer,
    args: &TrainArgs,
    spec: &Spec,
    keeper: &mut Keeper,
    log: &mut MetricsLog,
) -> Result<Option<String>, Error> {
    let mut rescued = None;
    let mut trained_s = 0.0;
    let config = trainer.config;
    // Test-only: destroys the GPU device once this many steps are done (tests/train.rs
    // forces a device loss this way; a driver reset looks the same to the trainer).
    let lose_device_at: Option<usize> = std::env::var("WGPU_MNIST_TEST_LOSE_DEVICE_AT_STEP").ok().and_then(|v| v.parse().ok());
    let report_every = (2000 / config.batch).max(1);
    let on_terminal = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut last = None;
    // (A resumed checkpoint may stand inside an epoch: that epoch is finished first.)
    while trainer.epoch < config.epochs || (trainer.epoch > 0 && !trainer.epoch_done()) {
        if trainer.epoch == 0 || trainer.epoch_done() {
            trainer.begin_epoch();
        }
        let t0 = Instant::now();
        let (mut loss, mut correct, mut seen) = (0.0, 0.0, 0usize);
        while !trainer.epoch_done() {
            let window = Instant::now();
            let m = trainer.train_steps(report_every).await?;
            let window_s = window.elapsed().as_secs_f64();
            trained_s += window_s;
            log.write(&Window { images_per_s: Some(m.examples as f64 / window_s), ..log::window(Kind::Train, trainer, trained_s, m) })?;
            loss += m.loss * m.examples as f64;
            correct += m.accuracy * m.examples as f64;
            seen += m.examples;
            // Drawn in place on a terminal only: piped or logged (CI), a carriage return per
            // report would pile thousands of bars onto one line.
            if on_terminal {
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
            if lose_device_at.is_some_and(|at| trainer.steps_taken() >= at) {
                trainer.model.lose_device_for_tests();
            }
            keeper.maybe_take(trainer).await?;
        }
        let train_secs = t0.elapsed().as_secs_f64();
        let val = trainer.evaluate_validation().await?;
        let test = trainer.evaluate_test().await?;
        if let Some(v) = val {
            log.write(&log::window(Kind::Validation, trainer, trained_s, v))?;
        }
        log.write(&log::window(Kind::Test, trainer, trained_s, test))?;
        let val_text = val.map(|v| format!("  val acc {:.2}%", 100.0 * v.accuracy)).unwrap_or_default();
        println!(
            "{}epoch {}  train loss {:.4}  train acc {:.2}%{val_text}  test loss {:.4}  test acc {:.2}%  {:.1} s  {:.0} img/s",
            if on_terminal { "\r" } else { "" },
            trainer.epoch,
            loss / seen.max(1) as f64,
            100.0 * correct / seen.max(1) as f64,
            test.loss,
            100.0 * test.accuracy,
            train_secs,
            seen as f64 / train_secs
        );
        last = Some(test);
        // Saved after every epoch, so a long run that is stopped keeps its last epoch.
        if let Some(path) = &args.save {
            rescued = Some(save(path, spec, trainer).await?).filter(|written| written != path);
        }
        keeper.take(trainer).await?;
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
        rescued = Some(save(path, spec, trainer).await?).filter(|written| written != path);
    }
    Ok(rescued)
}

/// `--log`: rows appended and flushed as they come, so a run that stops keeps them.
struct MetricsLog(Option<(String, std::fs::File)>);

impl MetricsLog {
    /// Opens the file for appending, writing the header into a new or empty one.
    fn open(path: Option<&str>) -> Result<MetricsLog, Error> {
        let Some(path) = path else { return Ok(MetricsLog(None)) };
        let cannot = |e: std::io::Error| Error::CannotWrite(format!("--log {path}: {e}"));
        let mut file = std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(cannot)?;
        if file.metadata().map_err(cannot)?.len() == 0 {
            writeln!(file, "{}", log::HEADER).map_err(cannot)?;
        }
        Ok(MetricsLog(Some((path.to_string(), file))))
    }

    fn write(&mut self, row: &Window) -> Result<(), Error> {
        match &mut self.0 {
            Some((path, file)) => writeln!(file, "{}", row.csv()).map_err(|e| Error::CannotWrite(format!("--log {path}: {e}"))),
            None => Ok(()),
        }
    }
}

/// Writes `bytes` to `path`, or where that fails (or there is no path) to `rescue` in
/// the working directory; gives the file written.
fn write_or_rescue(path: Option<&str>, rescue: &str, bytes: &[u8]) -> Result<String, Error> {
    if let Some(path) = path {
        match super::write_file(path, bytes) {
            Ok(()) => return Ok(path.to_string()),
            Err(e) => eprintln!("warning: {e}; writing {rescue} instead"),
        }
    }
    super::write_file(rescue, bytes).map(|_| rescue.to_string())
}

async fn save(path: &str, spec: &Spec, trainer: &Trainer) -> Result<String, Error> {
    save_net(path, spec, &trainer.model).await
}

/// Saves the model to `path`, or where that fails to a file in the working directory
/// (named in the output); gives the file written.
async fn save_net(path: &str, spec: &Spec, net: &Net) -> Result<String, Error> {
    let bytes = safetensors::to_bytes(spec, &net.read_tensors().await?);
    let written = write_or_rescue(Some(path), &format!("{}-rescued.safetensors", spec.name), &bytes)?;
    println!("saved {written}");
    Ok(written)
}
