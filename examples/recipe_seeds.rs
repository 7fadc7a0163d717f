//! Issue 22, item 3: which variant of `fast`'s recipe reaches 99% on every seed, and how
//! soon. Natively, on the CPU engine, one seed after another.
//!
//! `cargo run --release --example recipe_seeds -- validate [options]`: per seed, trains
//! with the last 10,000 training images held out and prints the accuracy on them at the
//! end. This is how a variant is chosen; it never sees the test set.
//!
//! `cargo run --release --example recipe_seeds -- test [options]`: per seed, on all
//! 60,000 images, the training seconds until the test accuracy first reaches 98% and 99%
//! (the test set checked 10 times an epoch, off the clock: `bench --time-to-accuracy`'s
//! protocol, except that the run goes on to the recipe's end) and the test accuracy at
//! the end.
//!
//! Options (default: the preset's recipe): `--preset fast`, `--seeds 1-5`, `--threads 2`,
//! `--epochs 1.5` (one-cycle stretched over a fractional number of epochs: the schedule
//! spans the steps actually taken), `--lr 0.01`, `--batch 256`, and `--widths 24,32,256`
//! (the convolutions' channels and the first dense layer's width, in order).

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    native::main();
}

/// The tool, natively only: it reads MNIST from disk and sets rayon's threads, and
/// `wasm-pack test` builds the examples for wasm32 too (where `main` does nothing).
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::time::Instant;
    use wgpu_mnist::data::Mnist;
    use wgpu_mnist::model::spec::Layer;
    use wgpu_mnist::model::{Engine, Net, Spec};
    use wgpu_mnist::train::{TrainConfig, Trainer};

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        pollster::block_on(f)
    }

    /// Test-set checks per epoch in `test` mode.
    const CHECKS_PER_EPOCH: usize = 10;
    /// The images held out in `validate` mode (the last of the training set).
    const VALIDATION_IMAGES: f32 = 10_000.0;

    /// A recipe: the preset's network and training with the command line's changes.
    struct Recipe {
        spec: Spec,
        lr: f32,
        batch: usize,
        epochs: f64,
    }

    impl Recipe {
        fn parse(args: &[String]) -> (Recipe, Vec<u64>, usize) {
            let value = |flag: &str| args.iter().position(|a| a == flag).map(|i| args.get(i + 1).expect("a value after the flag").as_str());
            let mut spec = Spec::preset(value("--preset").unwrap_or("fast")).expect("a preset's name");
            if let Some(widths) = value("--widths") {
                let mut widths = widths.split(',').map(|w| w.parse::<usize>().expect("widths as numbers"));
                let mut dense_left = 1;
                for layer in &mut spec.layers {
                    match layer {
                        Layer::Conv { out, .. } => *out = widths.next().unwrap_or(*out),
                        Layer::Dense { out } if dense_left > 0 => (*out, dense_left) = (widths.next().unwrap_or(*out), 0),
                        _ => {}
                    }
                }
            }
            let lr = value("--lr").map_or(spec.optimizer.lr(), |v| v.parse().expect("a learning rate"));
            let batch = value("--batch").map_or(spec.batch, |v| v.parse().expect("a batch size"));
            let epochs = value("--epochs").map_or(spec.epochs as f64, |v| v.parse().expect("a number of epochs"));
            let (first, last) = match value("--seeds").unwrap_or("1-5").split_once('-') {
                Some((a, b)) => (a.parse().expect("a seed"), b.parse().expect("a seed")),
                None => {
                    let s = value("--seeds").unwrap().parse().expect("a seed");
                    (s, s)
                }
            };
            let threads = value("--threads").map_or(2, |v| v.parse().expect("a thread count"));
            (Recipe { spec, lr, batch, epochs }, (first..=last).collect(), threads)
        }

        /// A trainer for `seed` and the number of steps the recipe takes. The schedule's table
        /// spans exactly those steps (the CPU engine reads `Trainer::rates` at every step).
        fn trainer(&self, data: &Mnist, seed: u64, validation_split: f32) -> (Trainer, usize) {
            let mut config = TrainConfig::from_spec(&self.spec, seed);
            config.optimizer = config.optimizer.with_lr(self.lr);
            (config.batch, config.epochs, config.validation_split) = (self.batch, self.epochs.ceil() as usize, validation_split);
            let mut t = Trainer::new(Net::new(&Engine::Cpu, &self.spec, seed).unwrap(), config, data).unwrap();
            let steps = (self.epochs * t.steps_per_epoch as f64).round() as usize;
            t.rates = config.schedule.rates(self.lr, steps, 1);
            (t, steps)
        }

        fn describe(&self) -> String {
            let widths: Vec<String> = self
                .spec
                .layers
                .iter()
                .filter_map(|l| match l {
                    Layer::Conv { out, .. } | Layer::Dense { out } => Some(out.to_string()),
                    _ => None,
                })
                .collect();
            format!(
                "{} (widths {}), {:?} schedule {}, lr {}, batch {}, {} epochs",
                self.spec.name,
                widths.join(","),
                self.spec.optimizer,
                self.spec.schedule.name(),
                self.lr,
                self.batch,
                self.epochs
            )
        }
    }

    /// Trains `steps` steps in chunks of `chunk`, calling `check` after each with the
    /// training seconds so far (the calls are off the clock); returns the training seconds.
    fn run(t: &mut Trainer, steps: usize, chunk: usize, mut check: impl FnMut(&mut Trainer, f64)) -> f64 {
        let mut clock = 0.0;
        while t.steps_taken() < steps {
            if t.epoch == 0 || t.epoch_done() {
                t.begin_epoch();
            }
            let start = Instant::now();
            block(t.train_steps(chunk.min(steps - t.steps_taken()))).unwrap();
            clock += start.elapsed().as_secs_f64();
            check(t, clock);
        }
        clock
    }

    fn validate(data: &Mnist, recipe: &Recipe, seeds: &[u64]) {
        println!("validate: {}; the last 10,000 training images held out", recipe.describe());
        println!("seed | validation % | training s");
        let mut accs = Vec::new();
        for &seed in seeds {
            let (mut t, steps) = recipe.trainer(data, seed, VALIDATION_IMAGES / data.train.len() as f32);
            let s = run(&mut t, steps, steps, |_, _| {});
            let acc = block(t.evaluate_validation()).unwrap().expect("a validation split").accuracy * 100.0;
            println!("{seed} | {acc:.2} | {s:.2}");
            accs.push(acc);
        }
        let mean = accs.iter().sum::<f64>() / accs.len() as f64;
        let worst = accs.iter().cloned().fold(f64::INFINITY, f64::min);
        println!("worst {worst:.2}, mean {mean:.3} ({} seeds)", accs.len());
    }

    fn test(data: &Mnist, recipe: &Recipe, seeds: &[u64]) {
        println!("test: {}; test set checked {CHECKS_PER_EPOCH} times an epoch off the clock", recipe.describe());
        println!("seed | test % at the end | s to 98% | s to 99% | training s");
        let (mut to99, mut ends) = (Vec::new(), Vec::new());
        for &seed in seeds {
            let (mut t, steps) = recipe.trainer(data, seed, 0.0);
            let mut reached = [None, None];
            let mut last = 0.0;
            let chunk = t.steps_per_epoch.div_ceil(CHECKS_PER_EPOCH);
            let s = run(&mut t, steps, chunk, |t, clock| {
                last = block(t.evaluate_test()).unwrap().accuracy;
                for (r, target) in reached.iter_mut().zip([0.98, 0.99]) {
                    if r.is_none() && last >= target {
                        *r = Some(clock);
                    }
                }
            });
            let show = |r: Option<f64>| r.map_or("-".into(), |s| format!("{s:.2}"));
            println!("{seed} | {:.2} | {} | {} | {s:.2}", last * 100.0, show(reached[0]), show(reached[1]));
            to99.push(reached[1].unwrap_or(f64::INFINITY));
            ends.push(last * 100.0);
        }
        to99.sort_by(f64::total_cmp);
        let n = to99.len();
        let median = if n % 2 == 1 { to99[n / 2] } else { (to99[n / 2 - 1] + to99[n / 2]) / 2.0 };
        let at99 = ends.iter().filter(|a| **a >= 99.0).count();
        println!(
            "median s to 99% {median:.2}; {at99} of {n} seeds end at 99% or more; worst {:.2}, mean {:.3}",
            ends.iter().cloned().fold(f64::INFINITY, f64::min),
            ends.iter().sum::<f64>() / n as f64
        );
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let (recipe, seeds, threads) = Recipe::parse(&args);
        let data = Mnist::load(std::path::Path::new(wgpu_mnist::data::DEFAULT_DIR)).expect("MNIST (run scripts/install)");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| match args.first().map(String::as_str) {
            Some("validate") => validate(&data, &recipe, &seeds),
            Some("test") => test(&data, &recipe, &seeds),
            _ => eprintln!("usage: recipe_seeds validate|test [--preset P] [--seeds A-B] [--threads N] [--epochs E] [--lr R] [--batch B] [--widths C1,C2,D]"),
        });
    }
}
