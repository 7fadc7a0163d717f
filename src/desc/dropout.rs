//! Dropout's configuration and the counter-based hash that draws its masks (the same
//! in shaders/dropout.wgsl, so every engine drops the same units).

/// Drop `rate` of the units of `unit_size` consecutive elements (1: plain dropout;
/// h * w: Dropout2d), scaling the kept ones by 1 / (1 - rate). Identity unless `training`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutConfig {
    pub rate: f32,
    pub unit_size: usize,
    pub seed: u32,
    pub training: bool,
}

impl DropoutConfig {
    /// A unit is kept when its 32-bit hash is at least this.
    pub fn drop_threshold(&self) -> u32 {
        (self.rate as f64 * 4294967296.0).min(4294967295.0) as u32
    }
    pub fn scale(&self) -> f32 {
        1.0 / (1.0 - self.rate)
    }
}

/// PCG's output hash of one 32-bit word.
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}
