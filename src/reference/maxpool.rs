//! Max-pooling 2x2 stride 2 on the CPU: the ground truth for shaders/maxpool.wgsl.

use crate::desc::maxpool::PoolShape;

/// (y, argmax): argmax is the flat input index of each window's first maximum.
pub fn maxpool_forward(s: &PoolShape, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (mut y, mut arg) = (Vec::new(), Vec::new());
    for plane in 0..s.planes {
        for oy in 0..s.out_h() {
            for ox in 0..s.out_w() {
                let top_left = (plane * s.in_h + 2 * oy) * s.in_w + 2 * ox;
                let window = [top_left, top_left + 1, top_left + s.in_w, top_left + s.in_w + 1];
                let best = window.into_iter().fold(top_left, |b, j| if x[j] > x[b] { j } else { b });
                y.push(x[best]);
                arg.push(best as u32);
            }
        }
    }
    (y, arg)
}

pub fn maxpool_backward(s: &PoolShape, dy: &[f32], argmax: &[u32]) -> Vec<f32> {
    let mut dx = vec![0f32; s.input_len()];
    for (o, &i) in argmax.iter().enumerate() {
        dx[i as usize] += dy[o];
    }
    dx
}
