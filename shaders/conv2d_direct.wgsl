// 2-D convolution computed directly, one thread per output position and block of
// channels, with no workgroup memory and no barriers. The alternative to the tiled
// implicit GEMM of conv2d.wgsl for adapters where barriers are expensive (SwiftShader,
// Chromium's software WebGPU, runs each barrier as a coroutine switch). Same layouts,
// same uniform block, same results (src/ops/conv2d.rs picks one per adapter).

const CHANNEL_BLOCK: u32 = 8u;

// The 8 weights w[i], w[i + stride], ... as two vec4s (clamped to the last weight so a
// partial block reads in bounds), written out so no accumulator is indexed dynamically:
// software adapters keep dynamically indexed arrays in memory, not registers.
fn weights8(i: u32, stride: u32, last: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        vec4<f32>(w[min(i, last)], w[min(i + stride, last)], w[min(i + 2u * stride, last)], w[min(i + 3u * stride, last)]),
        vec4<f32>(w[min(i + 4u * stride, last)], w[min(i + 5u * stride, last)], w[min(i + 6u * stride, last)], w[min(i + 7u * stride, last)]),
    );
}

fn lane(acc0: vec4<f32>, acc1: vec4<f32>, j: u32) -> f32 {
    if (j < 4u) { return acc0[j]; }
    return acc1[j - 4u];
}

// Thread: (n, block of 8 output channels, oy, ox). Each input value read feeds 8 outputs.
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_forward_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                         @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    let plane = p.out_h * p.out_w;
    let blocks = (p.out_c + CHANNEL_BLOCK - 1u) / CHANNEL_BLOCK;
    if (i >= p.batch * blocks * plane) { return; }
    let q = i % plane;
    let oc0 = ((i / plane) % blocks) * CHANNEL_BLOCK;
    let n = i / (plane * blocks);
    let iy0 = i32((q / p.out_w) * p.stride) - i32(p.pad_h);
    let ix0 = i32((q % p.out_w) * p.stride) - i32(p.pad_w);
    let ky_begin = u32(max(0, -iy0));
    let ky_end = u32(clamp(i32(p.in_h) - iy0, 0, i32(p.k_h)));
    let kx_begin = u32(max(0, -ix0));
    let kx_end = u32(clamp(i32(p.in_w) - ix0, 0, i32(p.k_w)));
    let taps = p.k_h * p.k_w;
    let channel_stride = p.in_c * taps;
    let last_w = p.out_c * channel_stride - 1u;
    let last_b = p.out_c - 1u;
    var acc0 = vec4<f32>(b[min(oc0, last_b)], b[min(oc0 + 1u, last_b)], b[min(oc0 + 2u, last_b)], b[min(oc0 + 3u, last_b)]);
    var acc1 = vec4<f32>(b[min(oc0 + 4u, last_b)], b[min(oc0 + 5u, last_b)], b[min(oc0 + 6u, last_b)], b[min(oc0 + 7u, last_b)]);
    for (var ic = 0u; ic < p.in_c; ic++) {
        for (var ky = ky_begin; ky < ky_end; ky++) {
            let x_row = ((n * p.in_c + ic) * p.in_h + u32(iy0 + i32(ky))) * p.in_w;
            for (var kx = kx_begin; kx < kx_end; kx++) {
                let v = x[x_row + u32(ix0 + i32(kx))];
                let wv = weights8(oc0 * channel_stride + ic * taps + ky * p.k_w + kx, channel_stride, last_w);
                acc0 += v * wv[0];
                acc1 += v * wv[1];
            }
        }
    }
    for (var j = 0u; j < CHANNEL_BLOCK; j++) {
        if (oc0 + j < p.out_c) {
            var v = lane(acc0, acc1, j);
            if (p.relu != 0u) { v = max(v, 0.0); }
            y[(n * p.out_c + oc0 + j) * plane + q] = v;
        }
    }
}

// Thread: (n, block of 8 input channels, iy, ix). Each dy value read feeds 8 outputs.
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_backward_input_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                                @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    let plane = p.in_h * p.in_w;
    let blocks = (p.in_c + CHANNEL_BLOCK - 1u) / CHANNEL_BLOCK;
    if (i >= p.batch * blocks * plane) { return; }
    let q = i % plane;
    let ic0 = ((i / plane) % blocks) * CHANNEL_BLOCK;
    let n = i / (plane * blocks);
    let iy = q / p.in_w;
    let ix = q % p.in_w;
    let taps = p.k_h * p.k_w;
    let last_w = p.out_c * p.in_c * taps - 1u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    for (var oc = 0u; oc < p.out_c; oc++) {
        for (var ky = 0u; ky < p.k_h; ky++) {
            let ty = i32(iy + p.pad_h) - i32(ky);
            if (ty < 0 || u32(ty) % p.stride != 0u || u32(ty) / p.stride >= p.out_h) { continue; }
            let dy_row = ((n * p.out_c + oc) * p.out_h + u32(ty) / p.stride) * p.out_w;
            for (var kx = 0u; kx < p.k_w; kx++) {
                let tx = i32(ix + p.pad_w) - i32(kx);
                if (tx < 0 || u32(tx) % p.stride != 0u || u32(tx) / p.stride >= p.out_w) { continue; }
                let v = dy[dy_row + u32(tx) / p.stride];
                let wv = weights8((oc * p.in_c + ic0) * taps + ky * p.k_w + kx, taps, last_w);
                acc0 += v * wv[0];
                acc1 += v * wv[1];
            }
        }
    }
    for (var j = 0u; j < CHANNEL_BLOCK; j++) {
        if (ic0 + j < p.in_c) { dx[(n * p.in_c + ic0 + j) * plane + q] = lane(acc0, acc1, j); }
    }
}

// Thread: (split, weight). Each sums its chunk of the (n, oy, ox) positions; split_sum
// (reduce.wgsl) adds the splits.
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_backward_weights_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                                  @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    let weights = p.out_c * p.in_c * p.k_h * p.k_w;
    if (i >= weights * p.m) { return; }
    let j = i % weights;
    let split = i / weights;
    let kx = j % p.k_w;
    let ky = (j / p.k_w) % p.k_h;
    let ic = (j / (p.k_w * p.k_h)) % p.in_c;
    let oc = j / (p.k_w * p.k_h * p.in_c);
    let plane = p.out_h * p.out_w;
    let begin = split * p.k_chunk;
    let end = min(begin + p.k_chunk, p.batch * plane);
    var acc = 0.0;
    for (var t = begin; t < end; t++) {
        let n = t / plane;
        let oy = (t % plane) / p.out_w;
        let ox = t % p.out_w;
        let iy = i32(oy * p.stride + ky) - i32(p.pad_h);
        let ix = i32(ox * p.stride + kx) - i32(p.pad_w);
        if (iy >= 0 && iy < i32(p.in_h) && ix >= 0 && ix < i32(p.in_w)) {
            acc += dy[(n * p.out_c + oc) * plane + t % plane] * x[((n * p.in_c + ic) * p.in_h + u32(iy)) * p.in_w + u32(ix)];
        }
    }
    dw_partial[split * weights + j] = acc;
}
