//! Max-pooling 2x2 stride 2 on the CPU engine (shaders/maxpool.wgsl; reference:
//! `reference::maxpool`). The first maximum of a window wins ties, as on the GPU.

use super::expect_len;
use super::par::{for_shards_mut, for_shards_mut2};
use crate::desc::maxpool::PoolShape;
use crate::error::{shape_err, Error};
use std::ops::Range;

/// y and argmax (the flat input index of each window's winner).
pub fn maxpool_forward(s: &PoolShape, x: &[f32], y: &mut [f32], argmax: &mut [u32]) -> Result<(), Error> {
    if s.planes == 0 || s.in_h < 2 || s.in_w < 2 {
        return Err(shape_err!("maxpool needs at least a 2x2 input: {s:?}"));
    }
    expect_len("maxpool input", x.len(), s.input_len())?;
    expect_len("maxpool output", y.len(), s.output_len())?;
    expect_len("maxpool argmax", argmax.len(), s.output_len())?;
    let (item, plane_in) = (s.out_h() * s.out_w(), s.in_h * s.in_w);
    for_shards_mut2(y, item, argmax, item, |planes, y, argmax| {
        let x = &x[planes.start * plane_in..planes.end * plane_in];
        pool_planes(&PoolShape { planes: planes.len(), ..*s }, x, planes.start, y, argmax)
    });
    Ok(())
}

/// The forward of the planes `x` (`s.planes` of them), which are planes `first..` of the
/// whole input: argmax holds indices into the whole input.
pub(super) fn pool_planes(s: &PoolShape, x: &[f32], first: usize, y: &mut [f32], argmax: &mut [u32]) {
    let (oh, ow, plane_in) = (s.out_h(), s.out_w(), s.in_h * s.in_w);
    let below = s.in_w as u32;
    for (p, (ys, args)) in y.chunks_mut(oh * ow).zip(argmax.chunks_mut(oh * ow)).take(s.planes).enumerate() {
        let (local, global) = (p * plane_in, (first + p) * plane_in);
        for oy in 0..oh {
            let top = local + 2 * oy * s.in_w;
            let (row0, row1) = (&x[top..top + 2 * ow], &x[top + s.in_w..top + s.in_w + 2 * ow]);
            let at = (global + 2 * oy * s.in_w) as u32;
            let (ys, args) = (&mut ys[oy * ow..][..ow], &mut args[oy * ow..][..ow]);
            for (ox, (p0, p1)) in row0.chunks_exact(2).zip(row1.chunks_exact(2)).enumerate() {
                // The window in reading order; a later element wins only if larger. Selects,
                // not branches: branching on the comparisons mispredicted (fast's first
                // layer, one image in cache, one core: 5.84 -> 3.09 us an image).
                let (mut best, mut off) = (p0[0], 0u32);
                for (v, k) in [(p0[1], 1), (p1[0], below), (p1[1], below + 1)] {
                    let wins = v > best;
                    best = if wins { v } else { best };
                    off = if wins { k } else { off };
                }
                ys[ox] = best;
                args[ox] = at + 2 * ox as u32 + off;
            }
        }
    }
}

/// The gradient at a 2x2 max-pool's output as its backward reads it: `dy`, the forward's
/// `argmax`, and, where a ReLU's mask applies (`maxpool_relu_backward`), the pool's output.
#[derive(Clone, Copy)]
pub struct PoolGrad<'a> {
    pub dy: &'a [f32],
    pub argmax: &'a [u32],
    pub relu_of: Option<&'a [f32]>,
}

impl PoolGrad<'_> {
    /// Calls `put(winner, gradient)` for each output in `outs`: the flat input index of its
    /// window's winner and the gradient it sends there. The mask's two cases are two
    /// loops, so that neither branches per window (one `match` per window cost the
    /// backward of fast's conv2 about 30%).
    #[inline(always)]
    pub fn each(&self, outs: Range<usize>, mut put: impl FnMut(u32, f32)) {
        let (dy, argmax) = (&self.dy[outs.clone()], &self.argmax[outs.clone()]);
        match self.relu_of {
            Some(y) => argmax.iter().zip(dy.iter().zip(&y[outs])).for_each(|(&a, (&d, &y))| put(a, super::keep_if(d, y > 0.0))),
            None => argmax.iter().zip(dy).for_each(|(&a, &d)| put(a, d)),
        }
    }

    /// The gradients outputs `outs` send to their winners, into `out`.
    pub fn values_into(&self, outs: Range<usize>, out: &mut [f32]) {
        let dy = &self.dy[outs.clone()];
        match self.relu_of {
            Some(y) => out.iter_mut().zip(dy.iter().zip(&y[outs])).for_each(|(v, (&d, &y))| *v = super::keep_if(d, y > 0.0)),
            None => out.copy_from_slice(dy),
        }
    }
}

/// dx: each window's gradient to its winner, zero elsewhere.
pub fn maxpool_backward(s: &PoolShape, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    backward(s, PoolGrad { dy, argmax, relu_of: None }, dx)
}

/// `maxpool_backward` followed by the backward of a ReLU fused into the layer before
/// (dx masked where that layer's output was not positive), in one pass: a winner's
/// value is the window's output `y`, so the mask is `y > 0`. The separate ReLU pass
/// read and wrote the whole unpooled gradient again (pytorch-cnn, batch 64: 3.2 MB for
/// conv1).
pub fn maxpool_relu_backward(s: &PoolShape, dy: &[f32], argmax: &[u32], y: &[f32], dx: &mut [f32]) {
    backward(s, PoolGrad { dy, argmax, relu_of: Some(y) }, dx)
}

/// dx of `g` (either of the two above).
pub fn backward(s: &PoolShape, g: PoolGrad, dx: &mut [f32]) {
    let plane_in = s.in_h * s.in_w;
    let plane_out = s.out_h() * s.out_w();
    for_shards_mut(dx, plane_in, |planes, dx| {
        dx.fill(0.0);
        let base = planes.start * plane_in;
        g.each(planes.start * plane_out..planes.end * plane_out, |a, v| dx[a as usize - base] += v);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The fused pass equals the pool's backward then the ReLU's, bit for bit, on
    /// windows with ties and zeros (ReLU outputs).
    #[test]
    fn fused_relu_backward_equals_the_two_passes() {
        let mut rng = Rng::new(7);
        for s in [PoolShape { planes: 3, in_h: 13, in_w: 13 }, PoolShape { planes: 16, in_h: 28, in_w: 28 }, PoolShape { planes: 2, in_h: 7, in_w: 6 }] {
            // ReLU outputs on a coarse grid: many zeros and ties.
            let x: Vec<f32> = (0..s.input_len()).map(|_| ((rng.uniform() * 4.0 - 2.0).round() / 2.0).max(0.0)).collect();
            let dy: Vec<f32> = (0..s.output_len()).map(|_| rng.uniform() - 0.5).collect();
            let (mut y, mut arg) = (vec![f32::NAN; s.output_len()], vec![u32::MAX; s.output_len()]);
            maxpool_forward(&s, &x, &mut y, &mut arg).unwrap();
            let (mut unmasked, mut fused) = (vec![f32::NAN; s.input_len()], vec![f32::NAN; s.input_len()]);
            maxpool_backward(&s, &dy, &arg, &mut unmasked);
            let mut two_passes = vec![f32::NAN; s.input_len()];
            crate::cpu::relu::relu_backward(&x, &unmasked, &mut two_passes);
            maxpool_relu_backward(&s, &dy, &arg, &y, &mut fused);
            assert!(fused.iter().all(|v| v.is_finite()), "{s:?}: a NaN was left");
            assert_eq!(fused.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), two_passes.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{s:?}");
            assert!(x.iter().filter(|&&v| v == 0.0).count() > s.input_len() / 4, "the inputs exercise the mask");
        }
    }
}
