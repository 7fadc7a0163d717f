//! A 2-D convolution's shapes.

use crate::error::{shape_err, Error};

/// Shapes of one convolution: input [batch, in_c, in_h, in_w], weights
/// [out_c, in_c, k_h, k_w], zero padding `pad_h`/`pad_w` on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    pub batch: usize,
    pub in_c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}

impl Conv2dShape {
    pub fn out_h(&self) -> usize {
        (self.in_h + 2 * self.pad_h - self.k_h) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.in_w + 2 * self.pad_w - self.k_w) / self.stride + 1
    }
    pub fn input_len(&self) -> usize {
        self.batch * self.in_c * self.in_h * self.in_w
    }
    pub fn weight_len(&self) -> usize {
        self.out_c * self.in_c * self.k_h * self.k_w
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_c * self.out_h() * self.out_w()
    }

    /// Rejects shapes with no output or a window larger than the padded input.
    pub fn validate(&self) -> Result<(), Error> {
        if self.batch == 0 || self.in_c == 0 || self.out_c == 0 || self.k_h == 0 || self.k_w == 0 || self.stride == 0 {
            return Err(shape_err!("conv2d: every dimension must be at least 1: {self:?}"));
        }
        if self.k_h > self.in_h + 2 * self.pad_h || self.k_w > self.in_w + 2 * self.pad_w {
            return Err(shape_err!(
                "conv2d: a {}x{} kernel does not fit a padded {}x{} input",
                self.k_h,
                self.k_w,
                self.in_h + 2 * self.pad_h,
                self.in_w + 2 * self.pad_w
            ));
        }
        if self.pad_h >= self.k_h || self.pad_w >= self.k_w {
            return Err(shape_err!(
                "conv2d: padding {}x{} must be smaller than the kernel {}x{}",
                self.pad_h,
                self.pad_w,
                self.k_h,
                self.k_w
            ));
        }
        Ok(())
    }
}
