// 2-D convolution, NCHW, weights [out_c, in_c, k_h, k_w] (PyTorch's layout), zero padding,
// as three implicit GEMMs on the tiled core of gemm.wgsl (an im2col matrix is never
// stored: load_b computes each element's input position on the fly):
//   forward          y[oc, (b,oy,ox)]  = sum over (ic,ky,kx) of w * x      (+ bias, ReLU)
//   backward input   dx[ic, (b,iy,ix)] = sum over (oc,ky,kx) of w * dy
//   backward weights dw[oc, (ic,ky,kx)] = sum over (b,oy,ox) of dy * x     (split-K partials)
// The bias gradient is a channel sum (reduce.wgsl), as is the sum of split-K partials.

const FORWARD: u32 = 1u;
const BACKWARD_INPUT: u32 = 2u;
const BACKWARD_WEIGHTS: u32 = 3u;

// x at output position (n = b*oh*ow + oy*ow + ox) under tap (k = ic*kh*kw + ky*kw + kx); 0 in the padding.
fn input_at(out_index: u32, tap: u32) -> f32 {
    let plane = p.out_h * p.out_w;
    let bi = out_index / plane;
    let q = out_index % plane;
    let taps = p.k_h * p.k_w;
    let ic = tap / taps;
    let r = tap % taps;
    let iy = i32((q / p.out_w) * p.stride + r / p.k_w) - i32(p.pad_h);
    let ix = i32((q % p.out_w) * p.stride + r % p.k_w) - i32(p.pad_w);
    if (iy < 0 || ix < 0 || iy >= i32(p.in_h) || ix >= i32(p.in_w)) { return 0.0; }
    return x[((bi * p.in_c + ic) * p.in_h + u32(iy)) * p.in_w + u32(ix)];
}

// dy that reaches input position (n = b*ih*iw + iy*iw + ix) through tap (k = oc*kh*kw + ky*kw + kx).
fn output_grad_at(in_index: u32, tap: u32) -> f32 {
    let plane = p.in_h * p.in_w;
    let bi = in_index / plane;
    let q = in_index % plane;
    let taps = p.k_h * p.k_w;
    let oc = tap / taps;
    let r = tap % taps;
    let ty = i32(q / p.in_w + p.pad_h) - i32(r / p.k_w);
    let tx = i32(q % p.in_w + p.pad_w) - i32(r % p.k_w);
    if (ty < 0 || tx < 0 || u32(ty) % p.stride != 0u || u32(tx) % p.stride != 0u) { return 0.0; }
    let oy = u32(ty) / p.stride;
    let ox = u32(tx) / p.stride;
    if (oy >= p.out_h || ox >= p.out_w) { return 0.0; }
    return dy[((bi * p.out_c + oc) * p.out_h + oy) * p.out_w + ox];
}

fn load_a(mode: u32, m: u32, k: u32) -> f32 {
    switch mode {
        case 1u: { return w[m * p.k + k]; }
        case 2u: {
            let taps = p.k_h * p.k_w;
            return w[((k / taps) * p.in_c + m) * taps + k % taps];
        }
        default: {
            let plane = p.out_h * p.out_w;
            return dy[((k / plane) * p.out_c + m) * plane + k % plane];
        }
    }
}

fn load_b(mode: u32, k: u32, n: u32) -> f32 {
    switch mode {
        case 1u: { return input_at(n, k); }
        case 2u: { return output_grad_at(n, k); }
        default: { return input_at(k, n); }
    }
}

fn store(mode: u32, m: u32, n: u32, value: f32, split: u32) {
    switch mode {
        case 1u: {
            let plane = p.out_h * p.out_w;
            var v = value + b[m];
            if (p.relu != 0u) { v = max(v, 0.0); }
            y[((n / plane) * p.out_c + m) * plane + n % plane] = v;
        }
        case 2u: {
            let plane = p.in_h * p.in_w;
            dx[((n / plane) * p.in_c + m) * plane + n % plane] = value;
        }
        default: { dw_partial[(split * p.m + m) * p.n + n] = value; }
    }
}

@compute @workgroup_size(256)
fn conv2d_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) local: u32) {
    gemm(FORWARD, workgroup_index(wg, groups), local);
}

@compute @workgroup_size(256)
fn conv2d_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                         @builtin(local_invocation_index) local: u32) {
    gemm(BACKWARD_INPUT, workgroup_index(wg, groups), local);
}

@compute @workgroup_size(256)
fn conv2d_backward_weights(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                           @builtin(local_invocation_index) local: u32) {
    gemm(BACKWARD_WEIGHTS, workgroup_index(wg, groups), local);
}
