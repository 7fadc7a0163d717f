//! Max-pooling 2x2 stride 2 on the CPU engine (shaders/maxpool.wgsl; reference:
//! `reference::maxpool`). The first maximum of a window wins ties, as on the GPU.

use super::expect_len;
use super::par::{for_shards_mut, for_shards_mut2};
use crate::desc::maxpool::PoolShape;
use crate::error::{shape_err, Error};

/// y and argmax (the flat input index of each window's winner).
pub fn maxpool_forward(s: &PoolShape, x: &[f32], y: &mut [f32], argmax: &mut [u32]) -> Result<(), Error> {
    if s.planes == 0 || s.in_h < 2 || s.in_w < 2 {
        return Err(shape_err!("maxpool needs at least a 2x2 input: {s:?}"));
    }
    expect_len("maxpool input", x.len(), s.input_len())?;
    expect_len("maxpool output", y.len(), s.output_len())?;
    expect_len("maxpool argmax", argmax.len(), s.output_len())?;
    let (oh, ow, plane_in) = (s.out_h(), s.out_w(), s.in_h * s.in_w);
    for_shards_mut2(y, oh * ow, argmax, oh * ow, |planes, y, argmax| {
        for (p, (ys, args)) in planes.zip(y.chunks_mut(oh * ow).zip(argmax.chunks_mut(oh * ow))) {
            let base = p * plane_in;
            for oy in 0..oh {
                let top = base + 2 * oy * s.in_w;
                let (row0, row1) = (&x[top..top + 2 * ow], &x[top + s.in_w..top + s.in_w + 2 * ow]);
                for ox in 0..ow {
                    // The window in reading order; a later element wins only if larger.
                    let mut best = (row0[2 * ox], top + 2 * ox);
                    for (v, i) in [
                        (row0[2 * ox + 1], top + 2 * ox + 1),
                        (row1[2 * ox], top + s.in_w + 2 * ox),
                        (row1[2 * ox + 1], top + s.in_w + 2 * ox + 1),
                    ] {
                        if v > best.0 {
                            best = (v, i);
                        }
                    }
                    ys[oy * ow + ox] = best.0;
                    args[oy * ow + ox] = best.1 as u32;
                }
            }
        }
    });
    Ok(())
}

/// dx: each window's gradient to its winner, zero elsewhere.
pub fn maxpool_backward(s: &PoolShape, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    let plane_in = s.in_h * s.in_w;
    let plane_out = s.out_h() * s.out_w();
    for_shards_mut(dx, plane_in, |planes, dx| {
        dx.fill(0.0);
        let base = planes.start * plane_in;
        for o in planes.start * plane_out..planes.end * plane_out {
            dx[argmax[o] as usize - base] += dy[o];
        }
    });
}
