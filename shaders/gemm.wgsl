// The tiled matrix-multiply core shared by matmul.wgsl and conv2d.wgsl (prepended to
// each). C[m, n] = sum over k of A[m, k] B[k, n], where the including shader supplies
// load_a, load_b and store (so a convolution is an implicit GEMM: its im2col matrix is
// never built). Each workgroup of 256 threads computes a BM x BN tile, staging BK-deep
// slices of A and B in workgroup memory; each thread keeps a 2 x 4 block of C in
// registers, so one staged value feeds several multiply-adds. Workgroups beyond the
// tiles of C split the k range (split-K) for products with a long k and a small C;
// the including shader reduces the partial results.
// BM and BN come from a one-line header the Rust side puts in front (src/ops/tile.rs):
// 32 x 64, or 16 x 128 for an m of 16 (a layer with 16 output channels would leave half
// of a 32-row tile idle). BM / 2 * BN / 4 must be 256, one 2 x 4 block per thread.

const BK: u32 = 16u;
const BN4: u32 = BN / 4u;

var<workgroup> tile_a: array<f32, BK * BM>;         // [BK][BM]
var<workgroup> tile_b: array<vec4<f32>, BK * BN4>;  // [BK][BN / 4]: one vec4 load feeds 8 multiply-adds

fn gemm(mode: u32, wg: u32, local: u32) {
    let tiles_m = (p.m + BM - 1u) / BM;
    let tiles_n = (p.n + BN - 1u) / BN;
    let split = wg / (tiles_m * tiles_n);
    let tile = wg % (tiles_m * tiles_n);
    let m0 = (tile / tiles_n) * BM;
    let n0 = (tile % tiles_n) * BN;
    let k_begin = split * p.k_chunk;
    let k_end = min(p.k, k_begin + p.k_chunk);
    let tx = local % BN4;
    let ty = local / BN4;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        for (var e = local; e < BK * BM; e += 256u) {
            let k = k0 + e / BM;
            let m = m0 + e % BM;
            var v = 0.0;
            if (k < k_end && m < p.m) { v = load_a(mode, m, k); }
            tile_a[e] = v;
        }
        for (var e = local; e < BK * BN4; e += 256u) {
            // 4 consecutive columns of one row of B.
            let k = k0 + e / BN4;
            let n = n0 + (e % BN4) * 4u;
            var v = vec4<f32>(0.0);
            if (k < k_end) {
                for (var c = 0u; c < 4u; c++) {
                    if (n + c < p.n) { v[c] = load_b(mode, k, n + c); }
                }
            }
            tile_b[e] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let b = tile_b[kk * BN4 + tx];
            acc0 += tile_a[kk * BM + ty * 2u] * b;
            acc1 += tile_a[kk * BM + ty * 2u + 1u] * b;
        }
        workgroupBarrier();
    }
    if (split * p.k_chunk >= p.k && p.k > 0u) { return; }
    for (var c = 0u; c < 4u; c++) {
        let n = n0 + tx * 4u + c;
        let m = m0 + ty * 2u;
        if (n < p.n) {
            if (m < p.m) { store(mode, m, n, acc0[c], split); }
            if (m + 1u < p.m) { store(mode, m + 1u, n, acc1[c], split); }
        }
    }
}
