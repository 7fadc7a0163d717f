//! Batch normalization's shape and hyperparameters.

/// A tensor viewed as [n, channels, inner]; `momentum` is the weight of the new batch in
/// the running statistics (Keras' 0.99 momentum is 0.01 here, PyTorch's 0.1 is 0.1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormShape {
    pub n: usize,
    pub channels: usize,
    pub inner: usize,
    pub eps: f32,
    pub momentum: f32,
}

impl BatchNormShape {
    pub fn len(&self) -> usize {
        self.n * self.channels * self.inner
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
