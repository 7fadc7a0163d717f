//! Issue 22, item 4: does splitting each step over data-parallel workers (the browser's
//! two Web Workers, `train::parallel`) change training? Natively, in one process.
//!
//! `cargo run --release --example replay_workers -- replay [seed] [steps]`: one `fast`
//! run stepped as one worker, two and four (shards combined by `parallel::combine`),
//! and one worker on 1 and on 2 threads, all from the same state; after each step the
//! gradients and weights are compared with the one-worker run (bitwise and relative).
//!
//! `cargo run --release --example replay_workers -- seeds [first] [last] [threads]`: a
//! whole `fast` epoch per seed as one worker and as two, each with its end-of-epoch test
//! accuracy and training time to 99% (test set checked 10 times an epoch, off the clock).

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
    use wgpu_mnist::model::{Engine, Net, Spec};
    use wgpu_mnist::train::parallel::combine;
    use wgpu_mnist::train::{TrainConfig, Trainer};

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        pollster::block_on(f)
    }

    fn trainer(spec: &Spec, seed: u64, data: &Mnist) -> Trainer {
        let mut t = Trainer::new(Net::new(&Engine::Cpu, spec, seed).unwrap(), TrainConfig::from_spec(spec, seed), data).unwrap();
        t.begin_epoch();
        t
    }

    /// One step of the run split over `workers` (trainers, the first the coordinator): the
    /// combined gradient it applied.
    fn split_step(workers: &mut [Trainer]) -> Vec<f32> {
        let n = workers.len();
        let shards = workers[0].next_shards(n).unwrap();
        for w in &mut workers[1..] {
            w.next_shards(n).unwrap();
        }
        let parts: Vec<(Vec<f32>, f64, f64)> = workers.iter_mut().zip(&shards).map(|(w, s)| w.shard_gradients(s).unwrap()).collect();
        let grads = combine(&parts.iter().zip(&shards).map(|(p, s)| (&p.0[..], s.len())).collect::<Vec<_>>());
        let loss: f64 = parts.iter().map(|p| p.1).sum();
        let correct: f64 = parts.iter().map(|p| p.2).sum();
        let examples = shards.iter().map(Vec::len).sum::<usize>() as f64;
        for (i, w) in workers.iter_mut().enumerate() {
            w.apply_gradients(&grads, if i == 0 { [loss, correct, examples] } else { [0.0; 3] }).unwrap();
        }
        grads
    }

    fn values(t: &Trainer) -> Vec<f32> {
        block(t.model.read_tensors()).unwrap().into_iter().flat_map(|t| t.1).collect()
    }

    /// "equal" or how many values differ and the largest difference relative to the
    /// largest magnitude of `a`.
    fn compare(a: &[f32], b: &[f32]) -> String {
        let differ = a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
        if differ == 0 {
            return "equal".into();
        }
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        format!("{differ}/{} differ, max |diff| {:.1e} of max |value|", a.len(), diff / scale)
    }

    /// Per tensor, where `a` and `b` differ (the first step's gradients).
    fn compare_tensors(t: &Trainer, a: &[f32], b: &[f32]) {
        for tensor in t.model.tensors().iter().filter(|t| t.trainable) {
            let r = tensor.offset as usize..tensor.offset as usize + tensor.len;
            println!("    {:<16} {}", tensor.name, compare(&a[r.clone()], &b[r]));
        }
    }

    fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
    }

    fn replay(data: &Mnist, seed: u64, steps: usize) {
        let spec = Spec::preset("fast").unwrap();
        let new = || trainer(&spec, seed, data);
        let mut single = new();
        let mut two = [new(), new()];
        let mut four = [new(), new(), new(), new()];
        let mut one_thread = new();
        let threads = rayon::current_num_threads();
        println!("fast, seed {seed}, batch {}, {threads} threads unless said", single.config.batch);
        for step in 1..=steps {
            let g1 = split_step(std::slice::from_mut(&mut single));
            let g1t = in_pool(1, || split_step(std::slice::from_mut(&mut one_thread)));
            let g2 = split_step(&mut two);
            let g4 = split_step(&mut four);
            println!("step {step}");
            if step == 1 {
                println!("  gradient, 2 workers against 1 (same weights):");
                compare_tensors(&single, &g1, &g2);
                println!("  gradient, 1 worker on 1 thread against {threads}:");
                compare_tensors(&single, &g1, &g1t);
            }
            let w1 = values(&single);
            for (name, g, w) in [
                ("1 worker, 1 thread", &g1t, values(&one_thread)),
                ("2 workers", &g2, values(&two[0])),
                ("4 workers", &g4, values(&four[0])),
            ] {
                println!("  {name:<20} gradient: {}; weights after: {}", compare(&g1, g), compare(&w1, &w));
            }
        }
    }

    /// Trains one epoch split over `workers`; (test accuracy at the end, training seconds
    /// to 99% if reached).
    fn epoch(data: &Mnist, seed: u64, workers: usize) -> (f64, Option<f64>) {
        let spec = Spec::preset("fast").unwrap();
        let mut ws: Vec<Trainer> = (0..workers).map(|_| trainer(&spec, seed, data)).collect();
        let per_check = ws[0].steps_per_epoch.div_ceil(10);
        let (mut clock, mut to99) = (0.0, None);
        while !ws[0].epoch_done() {
            let start = Instant::now();
            for _ in 0..per_check {
                if ws[0].epoch_done() {
                    break;
                }
                split_step(&mut ws);
            }
            clock += start.elapsed().as_secs_f64();
            block(ws[0].train_metrics_reader()).unwrap();
            let acc = block(ws[0].evaluate_test()).unwrap().accuracy;
            if acc >= 0.99 && to99.is_none() {
                to99 = Some(clock);
            }
        }
        (block(ws[0].evaluate_test()).unwrap().accuracy, to99)
    }

    fn seeds(data: &Mnist, first: u64, last: u64) {
        println!("seed | 1 worker: test %, s to 99% | 2 workers: test %, s to 99% | 2 minus 1 (points)");
        let (mut diffs, mut ones, mut twos) = (Vec::new(), Vec::new(), Vec::new());
        for seed in first..=last {
            let (a1, t1) = epoch(data, seed, 1);
            let (a2, t2) = epoch(data, seed, 2);
            let s = |t: Option<f64>| t.map_or("-".into(), |t| format!("{t:.2}"));
            println!("{seed} | {:.2} | {} | {:.2} | {} | {:+.2}", a1 * 100.0, s(t1), a2 * 100.0, s(t2), (a2 - a1) * 100.0);
            (ones, twos) = ([ones, vec![a1 * 100.0]].concat(), [twos, vec![a2 * 100.0]].concat());
            diffs.push((a2 - a1) * 100.0);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (m, n) = (mean(&diffs), diffs.len() as f64);
        let sd = (diffs.iter().map(|d| (d - m) * (d - m)).sum::<f64>() / (n - 1.0)).sqrt();
        let (lower, higher) = (diffs.iter().filter(|d| **d < 0.0).count(), diffs.iter().filter(|d| **d > 0.0).count());
        println!(
            "mean {:.3} (1 worker) {:.3} (2 workers); paired difference {m:+.3} points, sd {sd:.3}, t = {:.2} ({} pairs); 2 workers lower in {lower}, higher in {higher}",
            mean(&ones),
            mean(&twos),
            if sd > 0.0 { m / (sd / n.sqrt()) } else { 0.0 },
            diffs.len()
        );
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let arg = |i: usize, default: u64| args.get(i).map_or(default, |a| a.parse().expect("a number"));
        let data = Mnist::load(std::path::Path::new(wgpu_mnist::data::DEFAULT_DIR)).expect("MNIST (run scripts/install)");
        match args.first().map(String::as_str) {
            Some("replay") => replay(&data, arg(1, 1), arg(2, 5) as usize),
            Some("seeds") => in_pool(arg(3, rayon::current_num_threads() as u64) as usize, || seeds(&data, arg(1, 1), arg(2, 10))),
            _ => eprintln!("usage: replay_workers replay [seed] [steps] | seeds [first] [last] [threads]"),
        }
    }
}
