//! Convolution on the CPU: the ground truth for shaders/conv2d.wgsl. Plain loops, f64 sums.

use crate::desc::conv2d::Conv2dShape;

/// Visits every (input index, weight index, output index) triple that contributes.
fn for_each_tap(s: &Conv2dShape, mut f: impl FnMut(usize, usize, usize)) {
    let (oh, ow) = (s.out_h(), s.out_w());
    for n in 0..s.batch {
        for oc in 0..s.out_c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let o = ((n * s.out_c + oc) * oh + oy) * ow + ox;
                    for ic in 0..s.in_c {
                        for ky in 0..s.k_h {
                            for kx in 0..s.k_w {
                                let iy = (oy * s.stride + ky) as isize - s.pad_h as isize;
                                let ix = (ox * s.stride + kx) as isize - s.pad_w as isize;
                                if iy < 0 || ix < 0 || iy >= s.in_h as isize || ix >= s.in_w as isize {
                                    continue;
                                }
                                let i = ((n * s.in_c + ic) * s.in_h + iy as usize) * s.in_w + ix as usize;
                                let w = ((oc * s.in_c + ic) * s.k_h + ky) * s.k_w + kx;
                                f(i, w, o);
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn conv2d_forward(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    let mut acc = vec![0f64; s.output_len()];
    for_each_tap(s, |i, j, o| acc[o] += x[i] as f64 * w[j] as f64);
    let plane = s.out_h() * s.out_w();
    acc.iter()
        .enumerate()
        .map(|(o, &v)| {
            let v = (v + b[(o / plane) % s.out_c] as f64) as f32;
            if relu {
                v.max(0.0)
            } else {
                v
            }
        })
        .collect()
}

pub fn conv2d_backward_input(s: &Conv2dShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let mut acc = vec![0f64; s.input_len()];
    for_each_tap(s, |i, j, o| acc[i] += dy[o] as f64 * w[j] as f64);
    acc.into_iter().map(|v| v as f32).collect()
}

pub fn conv2d_backward_weights(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut acc = vec![0f64; s.weight_len()];
    for_each_tap(s, |i, j, o| acc[j] += dy[o] as f64 * x[i] as f64);
    acc.into_iter().map(|v| v as f32).collect()
}

pub fn conv2d_backward_bias(s: &Conv2dShape, dy: &[f32]) -> Vec<f32> {
    super::reduce::channel_sum(s.batch, s.out_c, s.out_h() * s.out_w(), dy)
}
