//! Fine-tuning on a person's own digits: Adam steps on batches that mix their examples
//! (at most half of each batch) with random MNIST training images, so the network learns
//! the new digits without forgetting the old ones.

use super::Metrics;
use crate::data::{pixel_to_input, Split};
use crate::desc::optim::Optimizer;
use crate::error::Error;
use crate::model::exec::{BatchTrainer, PendingMetrics};
use crate::model::Net;
use crate::rng::Rng;

/// Examples per fine-tuning batch.
pub const FINE_TUNE_BATCH: usize = 32;

/// Adam at a low rate: training's moments (kept, the optimizer state is shared with a
/// paused run) are a fine start, and a few steps move the weights without wrecking them.
pub const FINE_TUNE_OPTIMIZER: Optimizer = Optimizer::Adam { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };

/// A person's examples, MNIST, and a graph to step.
pub struct FineTune {
    stepper: BatchTrainer,
    images: Vec<f32>,
    labels: Vec<u8>,
    mnist: Split,
    rng: Rng,
}

impl FineTune {
    /// `images`: n * 784 values in 0..1, `labels`: n digits.
    pub fn new(net: &Net, images: Vec<f32>, labels: Vec<u8>, mnist: Split, seed: u64) -> Result<FineTune, Error> {
        let n = labels.len();
        if n == 0 || images.len() != n * 784 || labels.iter().any(|&l| l > 9) {
            return Err(Error::Shape("fine-tuning needs 28x28 images with a digit label each".into()));
        }
        let stepper = BatchTrainer::new(net, FINE_TUNE_BATCH, FINE_TUNE_OPTIMIZER)?;
        Ok(FineTune { stepper, images, labels, mnist, rng: Rng::new(seed) })
    }

    /// Runs (GPU: queues) `steps` steps (at least one); the reader gives the last batch's
    /// loss and accuracy.
    pub fn submit(&mut self, net: &mut Net, steps: usize) -> Result<PendingMetrics, Error> {
        for _ in 0..steps.max(1) {
            let (x, y) = self.batch();
            self.stepper.step(net, &x, &y)?;
        }
        Ok(self.stepper.last_metrics())
    }

    /// Runs `steps` steps and gives the last batch's loss and accuracy.
    pub async fn run(&mut self, net: &mut Net, steps: usize) -> Result<Metrics, Error> {
        self.submit(net, steps)?.take().await
    }

    /// A batch: personal examples, then random MNIST training images.
    fn batch(&mut self) -> (Vec<f32>, Vec<u32>) {
        let n = self.labels.len();
        let own = n.min(FINE_TUNE_BATCH / 2);
        let (mut x, mut y) = (Vec::with_capacity(FINE_TUNE_BATCH * 784), Vec::with_capacity(FINE_TUNE_BATCH));
        for _ in 0..own {
            let i = self.rng.below(n);
            x.extend_from_slice(&self.images[i * 784..(i + 1) * 784]);
            y.push(self.labels[i] as u32);
        }
        while y.len() < FINE_TUNE_BATCH {
            let i = self.rng.below(self.mnist.len());
            x.extend(self.mnist.image(i).iter().map(|&p| pixel_to_input(p)));
            y.push(self.mnist.labels[i] as u32);
        }
        (x, y)
    }
}
