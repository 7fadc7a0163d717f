//! Max-pooling's shape (2x2 windows, stride 2).

/// `planes` = batch * channels images of in_h x in_w; the output is in_h/2 x in_w/2 (floor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    pub planes: usize,
    pub in_h: usize,
    pub in_w: usize,
}

impl PoolShape {
    pub fn out_h(&self) -> usize {
        self.in_h / 2
    }
    pub fn out_w(&self) -> usize {
        self.in_w / 2
    }
    pub fn input_len(&self) -> usize {
        self.planes * self.in_h * self.in_w
    }
    pub fn output_len(&self) -> usize {
        self.planes * self.out_h() * self.out_w()
    }
}
