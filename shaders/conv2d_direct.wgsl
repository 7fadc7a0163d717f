// 2-D convolution computed directly, with no workgroup memory and no barriers: the
// alternative to the tiled implicit GEMM of conv2d.wgsl for adapters where barriers are
// expensive (SwiftShader, Chromium's software WebGPU, runs each barrier as a coroutine
// switch). Same layouts, same uniform block, same results (src/ops/conv2d.rs picks one).
//
// Each thread keeps a register block of 8 channels x 4 positions (or taps), so every
// value it loads feeds 4 or 8 multiply-adds: on SwiftShader, pytorch-cnn batch 64, this
// made conv2's forward 2x, its input gradient 1.7x and conv1's weight gradient 5x faster
// than one position per thread (docs/benchmarks.md). The accumulators are a struct of
// named vec4s (`Block`), never an indexed array: software adapters keep dynamically
// indexed arrays in memory.

// Positions (or taps) per thread; the channel block is 8 (Block.a0..a7).
const BLOCK: u32 = 4u;

// x[row + ix], or 0 outside the row (the padding).
fn x_in_row(row: u32, ix: i32) -> f32 {
    return select(0.0, x[row + u32(clamp(ix, 0, i32(p.in_w) - 1))], ix >= 0 && ix < i32(p.in_w));
}

// The weight at index i, clamped to the last so a partial channel block reads in bounds.
fn w_at(i: u32) -> f32 {
    return w[min(i, p.out_c * p.in_c * p.k_h * p.k_w - 1u)];
}

// A thread's register block: 8 channels (or 8 output channels) x 4 lanes.
struct Block {
    a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
    a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>,
}

// acc + v times the 8 weights w[i], w[i + stride], ..., w[i + 7 stride].
fn add_weighted(acc: Block, v: vec4<f32>, i: u32, stride: u32) -> Block {
    return Block(
        acc.a0 + v * w_at(i), acc.a1 + v * w_at(i + stride),
        acc.a2 + v * w_at(i + 2u * stride), acc.a3 + v * w_at(i + 3u * stride),
        acc.a4 + v * w_at(i + 4u * stride), acc.a5 + v * w_at(i + 5u * stride),
        acc.a6 + v * w_at(i + 6u * stride), acc.a7 + v * w_at(i + 7u * stride),
    );
}

fn store_y(n: u32, oc: u32, oy: u32, ox0: u32, v: vec4<f32>) {
    if (oc >= p.out_c) { return; }
    var o = v;
    if (p.relu != 0u) { o = max(o, vec4<f32>(0.0)); }
    let row = ((n * p.out_c + oc) * p.out_h + oy) * p.out_w;
    y[row + ox0] = o.x;
    if (ox0 + 1u < p.out_w) { y[row + ox0 + 1u] = o.y; }
    if (ox0 + 2u < p.out_w) { y[row + ox0 + 2u] = o.z; }
    if (ox0 + 3u < p.out_w) { y[row + ox0 + 3u] = o.w; }
}

// Thread: (n, block of 8 output channels, oy, 4 consecutive ox).
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_forward_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                         @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    let xblocks = (p.out_w + BLOCK - 1u) / BLOCK;
    let rows = p.out_h * xblocks;
    let cblocks = (p.out_c + 7u) / 8u;
    if (i >= p.batch * cblocks * rows) { return; }
    let q = i % rows;
    let oc0 = ((i / rows) % cblocks) * 8u;
    let n = i / (rows * cblocks);
    let oy = q / xblocks;
    let ox0 = (q % xblocks) * BLOCK;
    let iy0 = i32(oy * p.stride) - i32(p.pad_h);
    let ix0 = i32(ox0 * p.stride) - i32(p.pad_w);
    let ky_begin = u32(max(0, -iy0));
    let ky_end = u32(clamp(i32(p.in_h) - iy0, 0, i32(p.k_h)));
    let taps = p.k_h * p.k_w;
    let cs = p.in_c * taps;
    let s = i32(p.stride);
    let last_b = p.out_c - 1u;
    var acc = Block(
        vec4<f32>(b[min(oc0, last_b)]), vec4<f32>(b[min(oc0 + 1u, last_b)]),
        vec4<f32>(b[min(oc0 + 2u, last_b)]), vec4<f32>(b[min(oc0 + 3u, last_b)]),
        vec4<f32>(b[min(oc0 + 4u, last_b)]), vec4<f32>(b[min(oc0 + 5u, last_b)]),
        vec4<f32>(b[min(oc0 + 6u, last_b)]), vec4<f32>(b[min(oc0 + 7u, last_b)]),
    );
    for (var ic = 0u; ic < p.in_c; ic++) {
        for (var ky = ky_begin; ky < ky_end; ky++) {
            let row = ((n * p.in_c + ic) * p.in_h + u32(iy0 + i32(ky))) * p.in_w;
            let wk = oc0 * cs + ic * taps + ky * p.k_w;
            for (var kx = 0u; kx < p.k_w; kx++) {
                let c = ix0 + i32(kx);
                let v = vec4<f32>(x_in_row(row, c), x_in_row(row, c + s), x_in_row(row, c + 2 * s), x_in_row(row, c + 3 * s));
                acc = add_weighted(acc, v, wk + kx, cs);
            }
        }
    }
    store_y(n, oc0, oy, ox0, acc.a0);
    store_y(n, oc0 + 1u, oy, ox0, acc.a1);
    store_y(n, oc0 + 2u, oy, ox0, acc.a2);
    store_y(n, oc0 + 3u, oy, ox0, acc.a3);
    store_y(n, oc0 + 4u, oy, ox0, acc.a4);
    store_y(n, oc0 + 5u, oy, ox0, acc.a5);
    store_y(n, oc0 + 6u, oy, ox0, acc.a6);
    store_y(n, oc0 + 7u, oy, ox0, acc.a7);
}

// dy[row + t / stride] where t lands on an output position, else 0.
fn dy_strided(row: u32, t: i32) -> f32 {
    let s = i32(p.stride);
    let ok = t >= 0 && t % s == 0 && t / s < i32(p.out_w);
    return select(0.0, dy[row + u32(clamp(t / s, 0, i32(p.out_w) - 1))], ok);
}

// dy[row + t], or 0 outside the row: stride 1, no division.
fn dy_in_row(row: u32, t: i32) -> f32 {
    return select(0.0, dy[row + u32(clamp(t, 0, i32(p.out_w) - 1))], t >= 0 && t < i32(p.out_w));
}

fn store_dx(n: u32, ic: u32, iy: u32, ix0: u32, v: vec4<f32>) {
    if (ic >= p.in_c) { return; }
    let row = ((n * p.in_c + ic) * p.in_h + iy) * p.in_w;
    dx[row + ix0] = v.x;
    if (ix0 + 1u < p.in_w) { dx[row + ix0 + 1u] = v.y; }
    if (ix0 + 2u < p.in_w) { dx[row + ix0 + 2u] = v.z; }
    if (ix0 + 3u < p.in_w) { dx[row + ix0 + 3u] = v.w; }
}

// Thread: (n, block of 8 input channels, iy, 4 consecutive ix). Stride 1 takes a loop
// without the integer divisions a stride needs (1.6x faster on SwiftShader for conv2).
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_backward_input_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                                @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    let xblocks = (p.in_w + BLOCK - 1u) / BLOCK;
    let rows = p.in_h * xblocks;
    let cblocks = (p.in_c + 7u) / 8u;
    if (i >= p.batch * cblocks * rows) { return; }
    let q = i % rows;
    let ic0 = ((i / rows) % cblocks) * 8u;
    let n = i / (rows * cblocks);
    let iy = q / xblocks;
    let ix0 = (q % xblocks) * BLOCK;
    let taps = p.k_h * p.k_w;
    var acc = Block(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var oc = 0u; oc < p.out_c; oc++) {
        for (var ky = 0u; ky < p.k_h; ky++) {
            let ty = i32(iy + p.pad_h) - i32(ky);
            let wk = (oc * p.in_c + ic0) * taps + ky * p.k_w;
            if (p.stride == 1u) {
                if (ty < 0 || u32(ty) >= p.out_h) { continue; }
                let row = ((n * p.out_c + oc) * p.out_h + u32(ty)) * p.out_w;
                for (var kx = 0u; kx < p.k_w; kx++) {
                    let t = i32(ix0 + p.pad_w) - i32(kx);
                    let v = vec4<f32>(dy_in_row(row, t), dy_in_row(row, t + 1), dy_in_row(row, t + 2), dy_in_row(row, t + 3));
                    acc = add_weighted(acc, v, wk + kx, taps);
                }
            } else {
                if (ty < 0 || u32(ty) % p.stride != 0u || u32(ty) / p.stride >= p.out_h) { continue; }
                let row = ((n * p.out_c + oc) * p.out_h + u32(ty) / p.stride) * p.out_w;
                for (var kx = 0u; kx < p.k_w; kx++) {
                    let t = i32(ix0 + p.pad_w) - i32(kx);
                    let v = vec4<f32>(dy_strided(row, t), dy_strided(row, t + 1), dy_strided(row, t + 2), dy_strided(row, t + 3));
                    acc = add_weighted(acc, v, wk + kx, taps);
                }
            }
        }
    }
    store_dx(n, ic0, iy, ix0, acc.a0);
    store_dx(n, ic0 + 1u, iy, ix0, acc.a1);
    store_dx(n, ic0 + 2u, iy, ix0, acc.a2);
    store_dx(n, ic0 + 3u, iy, ix0, acc.a3);
    store_dx(n, ic0 + 4u, iy, ix0, acc.a4);
    store_dx(n, ic0 + 5u, iy, ix0, acc.a5);
    store_dx(n, ic0 + 6u, iy, ix0, acc.a6);
    store_dx(n, ic0 + 7u, iy, ix0, acc.a7);
}

// x at input row iy, column ix of plane `plane`, or 0 in the padding; `ok` is 0 for a
// tap past the kernel's last (a partial block), so that tap sums zeros.
fn x_tap(plane: u32, iy: i32, ix: i32, ok: bool) -> f32 {
    let inside = ok && iy >= 0 && iy < i32(p.in_h) && ix >= 0 && ix < i32(p.in_w);
    let cy = u32(clamp(iy, 0, i32(p.in_h) - 1));
    let cx = u32(clamp(ix, 0, i32(p.in_w) - 1));
    return select(0.0, x[plane + cy * p.in_w + cx], inside);
}

fn store_dw(split: u32, oc: u32, ic: u32, t0: u32, v: vec4<f32>) {
    let taps = p.k_h * p.k_w;
    if (oc >= p.out_c) { return; }
    let base = split * p.out_c * p.in_c * taps + (oc * p.in_c + ic) * taps + t0;
    dw_partial[base] = v.x;
    if (t0 + 1u < taps) { dw_partial[base + 1u] = v.y; }
    if (t0 + 2u < taps) { dw_partial[base + 2u] = v.z; }
    if (t0 + 3u < taps) { dw_partial[base + 3u] = v.w; }
}

// Thread: (split, block of 8 output channels, ic, 4 consecutive taps of the window).
// Plain accumulators here: a Block measured 1.3-1.7x slower in this kernel on SwiftShader.
// Each sums its chunk (k_chunk) of the (n, oy, ox) positions, m splits in all;
// split_sum (reduce.wgsl) adds the splits. Per position, 4 x and 8 dy loads feed 32
// products. The taps' offsets are found once and the position advances by counters:
// SwiftShader has no vector integer division, and the divisions per position (to find
// n, oy, ox and each tap's ky, kx) took most of this kernel's time.
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv2d_backward_weights_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                                  @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    let taps = p.k_h * p.k_w;
    let tblocks = (taps + BLOCK - 1u) / BLOCK;
    let cblocks = (p.out_c + 7u) / 8u;
    let per_split = cblocks * p.in_c * tblocks;
    if (i >= per_split * p.m) { return; }
    let j = i % per_split;
    let split = i / per_split;
    let t0 = (j % tblocks) * BLOCK;
    let ic = (j / tblocks) % p.in_c;
    let oc0 = (j / (tblocks * p.in_c)) * 8u;
    // Each tap's (ky - pad_h, kx - pad_w), clamped to the last tap (then `ok` is false).
    let last_t = taps - 1u;
    let ty = vec4<i32>(vec4<u32>(min(t0, last_t), min(t0 + 1u, last_t), min(t0 + 2u, last_t), min(t0 + 3u, last_t)) / p.k_w) - i32(p.pad_h);
    let tx = vec4<i32>(vec4<u32>(min(t0, last_t), min(t0 + 1u, last_t), min(t0 + 2u, last_t), min(t0 + 3u, last_t)) % p.k_w) - i32(p.pad_w);
    let ok = vec4<bool>(t0 < taps, t0 + 1u < taps, t0 + 2u < taps, t0 + 3u < taps);
    let plane = p.out_h * p.out_w;
    let begin = split * p.k_chunk;
    let end = min(begin + p.k_chunk, p.batch * plane);
    let last_c = p.out_c - 1u;
    let d1 = min(oc0 + 1u, last_c) * plane;
    let d2 = min(oc0 + 2u, last_c) * plane;
    let d3 = min(oc0 + 3u, last_c) * plane;
    let d4 = min(oc0 + 4u, last_c) * plane;
    let d5 = min(oc0 + 5u, last_c) * plane;
    let d6 = min(oc0 + 6u, last_c) * plane;
    let d7 = min(oc0 + 7u, last_c) * plane;
    let d0 = min(oc0, last_c) * plane;
    var n = begin / plane;
    var oy = (begin % plane) / p.out_w;
    var ox = begin % p.out_w;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    for (var t = begin; t < end; t++) {
        let xp = (n * p.in_c + ic) * p.in_h * p.in_w;
        let iy = i32(oy * p.stride) + ty;
        let ix = i32(ox * p.stride) + tx;
        let v = vec4<f32>(x_tap(xp, iy.x, ix.x, ok.x), x_tap(xp, iy.y, ix.y, ok.y), x_tap(xp, iy.z, ix.z, ok.z), x_tap(xp, iy.w, ix.w, ok.w));
        let d = n * p.out_c * plane + oy * p.out_w + ox;
        a0 += v * dy[d + d0];
        a1 += v * dy[d + d1];
        a2 += v * dy[d + d2];
        a3 += v * dy[d + d3];
        a4 += v * dy[d + d4];
        a5 += v * dy[d + d5];
        a6 += v * dy[d + d6];
        a7 += v * dy[d + d7];
        ox += 1u;
        if (ox == p.out_w) {
            ox = 0u;
            oy += 1u;
            if (oy == p.out_h) {
                oy = 0u;
                n += 1u;
            }
        }
    }
    store_dw(split, oc0, ic, t0, a0);
    store_dw(split, oc0 + 1u, ic, t0, a1);
    store_dw(split, oc0 + 2u, ic, t0, a2);
    store_dw(split, oc0 + 3u, ic, t0, a3);
    store_dw(split, oc0 + 4u, ic, t0, a4);
    store_dw(split, oc0 + 5u, ic, t0, a5);
    store_dw(split, oc0 + 6u, ic, t0, a6);
    store_dw(split, oc0 + 7u, ic, t0, a7);
}
