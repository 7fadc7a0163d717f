//! ReLU on the CPU engine (shaders/relu.wgsl; reference: `reference::relu`). Memory
//! bound, so spread over the cores in blocks.

use super::par::for_shards_mut;

/// Elements per block a thread takes (64 KiB of f32).
const BLOCK: usize = 16 * 1024;

pub fn relu_forward(x: &[f32], y: &mut [f32]) {
    let n = y.len();
    let whole = n - n % BLOCK;
    let body = |blocks: std::ops::Range<usize>, y: &mut [f32]| {
        y.iter_mut().zip(&x[blocks.start * BLOCK..]).for_each(|(y, x)| *y = super::relu(*x));
    };
    for_shards_mut(&mut y[..whole], BLOCK, body);
    y[whole..].iter_mut().zip(&x[whole..]).for_each(|(y, x)| *y = super::relu(*x));
}

/// dx = dy where the forward output was positive.
pub fn relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let mask = |dx: &mut [f32], y: &[f32], dy: &[f32]| {
        for ((dx, y), dy) in dx.iter_mut().zip(y).zip(dy) {
            *dx = super::keep_if(*dy, *y > 0.0);
        }
    };
    let n = dx.len();
    let whole = n - n % BLOCK;
    for_shards_mut(&mut dx[..whole], BLOCK, |blocks, dx| mask(dx, &y[blocks.start * BLOCK..], &dy[blocks.start * BLOCK..]));
    mask(&mut dx[whole..], &y[whole..], &dy[whole..]);
}
