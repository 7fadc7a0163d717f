// 2-D convolution by Winograd's minimal filtering F(2x2, 5x5), for stride 1 and 5x5
// kernels: the fourth candidate of src/ops/choice.rs, same layouts and results as
// conv2d_direct.wgsl; the input gradient is the same computation on dy with the weights
// transposed and flipped (`adjoint`).
//
// Y = A^T [ (G g G^T) . (B^T d B) ] A per 2x2 output tile, d the 6x6 input patch: each of
// the 36 products of a tile is then a GEMM over channels, [tiles x C] x [C x K]. That is
// 36 multiplies per tile and channel pair against the direct kernels' 100, at the cost of
// the transforms, which touch each input and output value a constant number of times.
// Four passes (src/ops/conv2d_winograd.rs): the weights' U, the input's V, the GEMMs into
// M, and M back to outputs (with bias and ReLU). Batches whose V or M would not fit a
// binding run the last three in chunks of images.
//
// The matrices come from Toom-Cook at the points 0, 1, -1, 2, -2 and infinity, as on the
// CPU engine (src/cpu/conv2d_winograd.rs). Every transform is written out with constant
// indices: SwiftShader keeps a dynamically indexed array in memory and reads it with a
// gather per lane. F(4x4, 3x3) on the same 6x6 tiles (same B^T) passed the engine suite
// but with relative errors up to 8.7e-5 against its 1e-4 tolerance (64 to 256 channels),
// so 3x3 kernels stay on the direct kernels. The weight gradient as F(5x5, 2x2) on the
// same points (V of x, G' dy G'^T, 36 GEMMs reducing over tiles) was 1.01-1.1e-4 off
// (pytorch-cnn's conv2, 5 images; an f32 simulation agreed), so it stays direct too.

struct WinogradParams {
    first_image: u32, images: u32, in_c: u32, in_h: u32,
    in_w: u32, out_c: u32, out_h: u32, out_w: u32,
    pad_h: u32, pad_w: u32, _p0: u32, _p1: u32,
    tiles_h: u32, tiles_w: u32, tiles: u32, tile_stride: u32,
    filters: u32, adjoint: u32, relu: u32, bias: u32,
}

@group(0) @binding(0) var<uniform> p: WinogradParams;
// x: the input (dy for the input gradient), y: the output (dx), w: the layer's weights.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// U [36][in_c][filters], V [36][in_c][tile_stride], M [36][filters][tile_stride]: written
// a scalar at a time by the transforms, read 4 at a time by the GEMM. `filters` is out_c
// rounded up to 8 (zero weights), `tile_stride` the chunk's tiles rounded up to 8.
@group(0) @binding(5) var<storage, read_write> u_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> v_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> m_out: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> u4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> m_in: array<f32>;

// Kernel tap (ky, kx) of the filter mapping input channel c to output channel k: w[k][c]
// forward, w[c][k] flipped for the input gradient. Zero for the padding filters.
fn tap(c: u32, k: u32, ky: u32, kx: u32) -> f32 {
    let kk = min(k, p.out_c - 1u);
    let forward = ((kk * p.in_c + c) * 5u + ky) * 5u + kx;
    let adjoint = ((c * p.out_c + kk) * 5u + 4u - ky) * 5u + 4u - kx;
    return select(0.0, w[select(forward, adjoint, p.adjoint != 0u)], k < p.out_c);
}

// G g for one row (or column) of five taps: the kernel polynomial at the points, with
// the fractions of B^T's inverse moved here so B^T stays integral.
fn g5(v: array<f32, 5>) -> array<f32, 6> {
    let e = v[0] + v[2] + v[4];
    let o = v[1] + v[3];
    let e4 = v[0] + 4.0 * v[2] + 16.0 * v[4];
    let o4 = 2.0 * v[1] + 8.0 * v[3];
    return array<f32, 6>(0.25 * v[0], (e + o) / 6.0, (e - o) / 6.0, (e4 + o4) / 24.0, (e4 - o4) / 24.0, v[4]);
}

// Row ky of the filter, transformed along it.
fn tap_row(c: u32, k: u32, ky: u32) -> array<f32, 6> {
    return g5(array<f32, 5>(tap(c, k, ky, 0u), tap(c, k, ky, 1u), tap(c, k, ky, 2u), tap(c, k, ky, 3u), tap(c, k, ky, 4u)));
}

// Column e of G g G^T into U (product 6a + e for row a).
fn store_u(c: u32, k: u32, e: u32, col: array<f32, 6>) {
    let step = 6u * p.in_c * p.filters;
    let base = (e * p.in_c + c) * p.filters + k;
    u_out[base] = col[0];
    u_out[base + step] = col[1];
    u_out[base + 2u * step] = col[2];
    u_out[base + 3u * step] = col[3];
    u_out[base + 4u * step] = col[4];
    u_out[base + 5u * step] = col[5];
}

// Thread: (input channel, filter): U = G g G^T, written out like the other transforms
// (with loops and a computed G it took 20 ms for pytorch-cnn's conv2 on SwiftShader).
@compute @workgroup_size(WORKGROUP_SIZE)
fn winograd_weights(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.in_c * p.filters) { return; }
    let k = i % p.filters;
    let c = i / p.filters;
    let h0 = tap_row(c, k, 0u);
    let h1 = tap_row(c, k, 1u);
    let h2 = tap_row(c, k, 2u);
    let h3 = tap_row(c, k, 3u);
    let h4 = tap_row(c, k, 4u);
    store_u(c, k, 0u, g5(array<f32, 5>(h0[0], h1[0], h2[0], h3[0], h4[0])));
    store_u(c, k, 1u, g5(array<f32, 5>(h0[1], h1[1], h2[1], h3[1], h4[1])));
    store_u(c, k, 2u, g5(array<f32, 5>(h0[2], h1[2], h2[2], h3[2], h4[2])));
    store_u(c, k, 3u, g5(array<f32, 5>(h0[3], h1[3], h2[3], h3[3], h4[3])));
    store_u(c, k, 4u, g5(array<f32, 5>(h0[4], h1[4], h2[4], h3[4], h4[4])));
    store_u(c, k, 5u, g5(array<f32, 5>(h0[5], h1[5], h2[5], h3[5], h4[5])));
}

// B^T d for one column (or row) of six.
fn bt(d: array<f32, 6>) -> array<f32, 6> {
    return array<f32, 6>(
        4.0 * d[0] - 5.0 * d[2] + d[4],
        4.0 * (d[1] + d[2]) - d[3] - d[4],
        4.0 * (d[2] - d[1]) + d[3] - d[4],
        2.0 * (d[3] - d[1]) + d[4] - d[2],
        2.0 * (d[1] - d[3]) + d[4] - d[2],
        4.0 * d[1] - 5.0 * d[3] + d[5],
    );
}

// Six inputs of one row, zero outside the image (the padding).
fn input_row(plane: u32, iy: i32, ix0: i32) -> array<f32, 6> {
    if (iy < 0 || iy >= i32(p.in_h)) { return array<f32, 6>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0); }
    let row = plane + u32(iy) * p.in_w;
    return array<f32, 6>(x_in_row(row, ix0), x_in_row(row, ix0 + 1), x_in_row(row, ix0 + 2),
                         x_in_row(row, ix0 + 3), x_in_row(row, ix0 + 4), x_in_row(row, ix0 + 5));
}

fn x_in_row(row: u32, ix: i32) -> f32 {
    return select(0.0, x[row + u32(clamp(ix, 0, i32(p.in_w) - 1))], ix >= 0 && ix < i32(p.in_w));
}

// Column e of B^T d B (the rows already transformed) into V.
fn store_v(e: u32, c: u32, t: u32, col: array<f32, 6>) {
    let step = 6u * p.in_c * p.tile_stride;
    let base = (e * p.in_c + c) * p.tile_stride + t;
    v_out[base] = col[0];
    v_out[base + step] = col[1];
    v_out[base + 2u * step] = col[2];
    v_out[base + 3u * step] = col[3];
    v_out[base + 4u * step] = col[4];
    v_out[base + 5u * step] = col[5];
}

// Thread: (input channel, tile).
@compute @workgroup_size(WORKGROUP_SIZE)
fn winograd_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.in_c * p.tiles) { return; }
    let t = i % p.tiles;
    let c = i / p.tiles;
    let per_image = p.tiles_h * p.tiles_w;
    let n = p.first_image + t / per_image;
    let iy0 = i32((t % per_image) / p.tiles_w * 2u) - i32(p.pad_h);
    let ix0 = i32((t % p.tiles_w) * 2u) - i32(p.pad_w);
    let plane = (n * p.in_c + c) * p.in_h * p.in_w;
    let r0 = bt(input_row(plane, iy0, ix0));
    let r1 = bt(input_row(plane, iy0 + 1, ix0));
    let r2 = bt(input_row(plane, iy0 + 2, ix0));
    let r3 = bt(input_row(plane, iy0 + 3, ix0));
    let r4 = bt(input_row(plane, iy0 + 4, ix0));
    let r5 = bt(input_row(plane, iy0 + 5, ix0));
    store_v(0u, c, t, bt(array<f32, 6>(r0[0], r1[0], r2[0], r3[0], r4[0], r5[0])));
    store_v(1u, c, t, bt(array<f32, 6>(r0[1], r1[1], r2[1], r3[1], r4[1], r5[1])));
    store_v(2u, c, t, bt(array<f32, 6>(r0[2], r1[2], r2[2], r3[2], r4[2], r5[2])));
    store_v(3u, c, t, bt(array<f32, 6>(r0[3], r1[3], r2[3], r3[3], r4[3], r5[3])));
    store_v(4u, c, t, bt(array<f32, 6>(r0[4], r1[4], r2[4], r3[4], r4[4], r5[4])));
    store_v(5u, c, t, bt(array<f32, 6>(r0[5], r1[5], r2[5], r3[5], r4[5], r5[5])));
}

// Thread: (product ξ, 8 filters, 8 tiles): M[ξ][k][t] = sum over c of V[ξ][c][t] U[ξ][c][k].
// Each step loads 4 vec4s for 64 multiply-adds: 1.2-1.35x faster on SwiftShader than 4
// tiles (3 vec4s for 32), relative to the step's other kernels in the same runs.
@compute @workgroup_size(WORKGROUP_SIZE)
fn winograd_gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    let octets = (p.tiles + 7u) / 8u;
    let kblocks = p.filters / 8u;
    if (i >= 36u * kblocks * octets) { return; }
    let q = i % octets;
    let kb = (i / octets) % kblocks;
    let xi = i / (octets * kblocks);
    let t4 = p.tile_stride / 4u;
    let f4 = p.filters / 4u;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    var b4 = vec4<f32>(0.0);
    var b5 = vec4<f32>(0.0);
    var b6 = vec4<f32>(0.0);
    var b7 = vec4<f32>(0.0);
    var vi = xi * p.in_c * t4 + 2u * q;
    var ui = xi * p.in_c * f4 + kb * 2u;
    for (var c = 0u; c < p.in_c; c++) {
        let v = v4[vi];
        let w = v4[vi + 1u];
        let u0 = u4[ui];
        let u1 = u4[ui + 1u];
        a0 += v * u0.x;
        a1 += v * u0.y;
        a2 += v * u0.z;
        a3 += v * u0.w;
        a4 += v * u1.x;
        a5 += v * u1.y;
        a6 += v * u1.z;
        a7 += v * u1.w;
        b0 += w * u0.x;
        b1 += w * u0.y;
        b2 += w * u0.z;
        b3 += w * u0.w;
        b4 += w * u1.x;
        b5 += w * u1.y;
        b6 += w * u1.z;
        b7 += w * u1.w;
        vi += t4;
        ui += f4;
    }
    let base = (xi * p.filters + kb * 8u) * t4 + 2u * q;
    m_out[base] = a0;
    m_out[base + t4] = a1;
    m_out[base + 2u * t4] = a2;
    m_out[base + 3u * t4] = a3;
    m_out[base + 4u * t4] = a4;
    m_out[base + 5u * t4] = a5;
    m_out[base + 6u * t4] = a6;
    m_out[base + 7u * t4] = a7;
    m_out[base + 1u] = b0;
    m_out[base + t4 + 1u] = b1;
    m_out[base + 2u * t4 + 1u] = b2;
    m_out[base + 3u * t4 + 1u] = b3;
    m_out[base + 4u * t4 + 1u] = b4;
    m_out[base + 5u * t4 + 1u] = b5;
    m_out[base + 6u * t4 + 1u] = b6;
    m_out[base + 7u * t4 + 1u] = b7;
}

// A^T s for one row (or column) of six.
fn at(s: array<f32, 6>) -> vec2<f32> {
    return vec2<f32>(s[0] + s[1] + s[2] + s[3] + s[4], s[1] - s[2] + 2.0 * (s[3] - s[4]) + s[5]);
}

// Row a of M for filter k and tile t, transformed: A^T applied along the row.
fn m_row(a: u32, k: u32, t: u32) -> vec2<f32> {
    let step = p.filters * p.tile_stride;
    let base = (a * 6u * p.filters + k) * p.tile_stride + t;
    return at(array<f32, 6>(m_in[base], m_in[base + step], m_in[base + 2u * step],
                            m_in[base + 3u * step], m_in[base + 4u * step], m_in[base + 5u * step]));
}

// Output column ox of the tile (rows oy0 and oy0 + 1), with bias and ReLU, inside the image.
fn store_y(plane: u32, oy0: u32, ox: u32, bias: f32, col: vec2<f32>) {
    if (ox >= p.out_w) { return; }
    var o = col + bias;
    if (p.relu != 0u) { o = max(o, vec2<f32>(0.0)); }
    let i = plane + oy0 * p.out_w + ox;
    y[i] = o.x;
    if (oy0 + 1u < p.out_h) { y[i + p.out_w] = o.y; }
}

// Thread: (filter, tile): Y = A^T M A, then the bias and ReLU.
@compute @workgroup_size(WORKGROUP_SIZE)
fn winograd_output(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.out_c * p.tiles) { return; }
    let t = i % p.tiles;
    let k = i / p.tiles;
    let per_image = p.tiles_h * p.tiles_w;
    let n = p.first_image + t / per_image;
    let oy0 = (t % per_image) / p.tiles_w * 2u;
    let ox0 = (t % p.tiles_w) * 2u;
    let s0 = m_row(0u, k, t);
    let s1 = m_row(1u, k, t);
    let s2 = m_row(2u, k, t);
    let s3 = m_row(3u, k, t);
    let s4 = m_row(4u, k, t);
    let s5 = m_row(5u, k, t);
    let bias = select(0.0, b[min(k, arrayLength(&b) - 1u)], p.bias != 0u);
    let plane = (n * p.out_c + k) * p.out_h * p.out_w;
    store_y(plane, oy0, ox0, bias, at(array<f32, 6>(s0.x, s1.x, s2.x, s3.x, s4.x, s5.x)));
    store_y(plane, oy0, ox0 + 1u, bias, at(array<f32, 6>(s0.y, s1.y, s2.y, s3.y, s4.y, s5.y)));
}

