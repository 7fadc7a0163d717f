// 2-D convolution, NCHW, weights [out_c, in_c, k_h, k_w] (PyTorch's layout), zero padding.
// Forward (with bias and optional fused ReLU) and the gradients w.r.t. input and weights;
// the bias gradient is a channel sum (reduce.wgsl).

struct Conv2dParams {
    batch: u32, in_c: u32, in_h: u32, in_w: u32,
    out_c: u32, out_h: u32, out_w: u32, k_h: u32,
    k_w: u32, stride: u32, pad_h: u32, pad_w: u32,
    relu: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Conv2dParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;

// One thread per output element; the input window is clipped instead of tested per tap.
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.batch * p.out_c * p.out_h * p.out_w) { return; }
    let ox = i % p.out_w;
    let oy = (i / p.out_w) % p.out_h;
    let oc = (i / (p.out_w * p.out_h)) % p.out_c;
    let n = i / (p.out_w * p.out_h * p.out_c);
    let iy0 = i32(oy * p.stride) - i32(p.pad_h);
    let ix0 = i32(ox * p.stride) - i32(p.pad_w);
    let ky_begin = u32(max(0, -iy0));
    let ky_end = u32(clamp(i32(p.in_h) - iy0, 0, i32(p.k_h)));
    let kx_begin = u32(max(0, -ix0));
    let kx_end = u32(clamp(i32(p.in_w) - ix0, 0, i32(p.k_w)));
    var acc = b[oc];
    for (var ic = 0u; ic < p.in_c; ic++) {
        let x_plane = (n * p.in_c + ic) * p.in_h;
        let w_plane = (oc * p.in_c + ic) * p.k_h;
        for (var ky = ky_begin; ky < ky_end; ky++) {
            let x_row = (x_plane + u32(iy0 + i32(ky))) * p.in_w;
            let w_row = (w_plane + ky) * p.k_w;
            for (var kx = kx_begin; kx < kx_end; kx++) {
                acc += x[x_row + u32(ix0 + i32(kx))] * w[w_row + kx];
            }
        }
    }
    if (p.relu != 0u) { acc = max(acc, 0.0); }
    y[i] = acc;
}

// dx[n, ic, iy, ix] = sum over (oc, ky, kx) with iy = oy * stride - pad + ky of dy * w.
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                         @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.batch * p.in_c * p.in_h * p.in_w) { return; }
    let ix = i % p.in_w;
    let iy = (i / p.in_w) % p.in_h;
    let ic = (i / (p.in_w * p.in_h)) % p.in_c;
    let n = i / (p.in_w * p.in_h * p.in_c);
    var acc = 0.0;
    for (var ky = 0u; ky < p.k_h; ky++) {
        let ty = i32(iy + p.pad_h) - i32(ky);
        if (ty < 0 || u32(ty) % p.stride != 0u) { continue; }
        let oy = u32(ty) / p.stride;
        if (oy >= p.out_h) { continue; }
        for (var kx = 0u; kx < p.k_w; kx++) {
            let tx = i32(ix + p.pad_w) - i32(kx);
            if (tx < 0 || u32(tx) % p.stride != 0u) { continue; }
            let ox = u32(tx) / p.stride;
            if (ox >= p.out_w) { continue; }
            for (var oc = 0u; oc < p.out_c; oc++) {
                acc += dy[((n * p.out_c + oc) * p.out_h + oy) * p.out_w + ox]
                     * w[((oc * p.in_c + ic) * p.k_h + ky) * p.k_w + kx];
            }
        }
    }
    dx[i] = acc;
}

// One workgroup per weight: its threads split the (n, oy, ox) sum, then reduce.
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_backward_weights(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                           @builtin(local_invocation_index) local: u32) {
    let j = workgroup_index(wg, groups);
    if (j >= p.out_c * p.in_c * p.k_h * p.k_w) { return; }
    let kx = j % p.k_w;
    let ky = (j / p.k_w) % p.k_h;
    let ic = (j / (p.k_w * p.k_h)) % p.in_c;
    let oc = j / (p.k_w * p.k_h * p.in_c);
    let plane = p.out_h * p.out_w;
    var acc = 0.0;
    for (var t = local; t < p.batch * plane; t += WORKGROUP_SIZE) {
        let n = t / plane;
        let oy = (t % plane) / p.out_w;
        let ox = t % p.out_w;
        let iy = i32(oy * p.stride + ky) - i32(p.pad_h);
        let ix = i32(ox * p.stride + kx) - i32(p.pad_w);
        if (iy >= 0 && iy < i32(p.in_h) && ix >= 0 && ix < i32(p.in_w)) {
            acc += dy[((n * p.out_c + oc) * p.out_h + oy) * p.out_w + ox]
                 * x[((n * p.in_c + ic) * p.in_h + u32(iy)) * p.in_w + u32(ix)];
        }
    }
    let total = workgroup_sum(local, acc);
    if (local == 0u) { dw[j] = total; }
}
