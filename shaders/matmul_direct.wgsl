// C[m, n] = op(A)[m, k] * op(B)[k, n] (+ bias[n]) (ReLU) with no workgroup memory and no
// barriers: the direct candidate of the dense passes (src/ops/choice.rs), as
// conv2d_direct.wgsl is for convolutions, for adapters where barriers are expensive
// (SwiftShader runs each as a coroutine switch). Same layouts, uniform block and results
// as matmul.wgsl.
//
// Each thread keeps 4 rows x 8 columns of C in registers, so a step of k loads 4 values
// of A and 8 of B for 32 multiply-adds. Transposes are strides, found once.

fn store_c(row: u32, col: u32, v: vec4<f32>) {
    if (col >= p.n) { return; }
    var o = v;
    if (p.has_bias != 0u) { o += bias[col]; }
    if (p.relu != 0u) { o = max(o, vec4<f32>(0.0)); }
    c[row * p.n + col] = o.x;
    if (row + 1u < p.m) { c[(row + 1u) * p.n + col] = o.y; }
    if (row + 2u < p.m) { c[(row + 2u) * p.n + col] = o.z; }
    if (row + 3u < p.m) { c[(row + 3u) * p.n + col] = o.w; }
}

// Thread: (4 rows, 8 columns). Rows and columns past the edge read the last one's values
// (in bounds) and are not stored.
@compute @workgroup_size(WORKGROUP_SIZE)
fn matmul_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    let cblocks = (p.n + 7u) / 8u;
    if (i >= cblocks * ((p.m + 3u) / 4u)) { return; }
    let col0 = (i % cblocks) * 8u;
    let row0 = (i / cblocks) * 4u;
    // A[row, k] at row * a_row + k * a_k; B[k, col] at k * b_k + col * b_col.
    let a_row = select(p.k, 1u, p.trans_a != 0u);
    let a_k = select(1u, p.m, p.trans_a != 0u);
    let b_col = select(1u, p.k, p.trans_b != 0u);
    let b_k = select(p.n, 1u, p.trans_b != 0u);
    let rows = min(vec4<u32>(row0, row0 + 1u, row0 + 2u, row0 + 3u), vec4<u32>(p.m - 1u)) * a_row;
    let cols_lo = min(vec4<u32>(col0, col0 + 1u, col0 + 2u, col0 + 3u), vec4<u32>(p.n - 1u)) * b_col;
    let cols_hi = min(vec4<u32>(col0 + 4u, col0 + 5u, col0 + 6u, col0 + 7u), vec4<u32>(p.n - 1u)) * b_col;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k++) {
        let ra = rows + k * a_k;
        let v = vec4<f32>(a[ra.x], a[ra.y], a[ra.z], a[ra.w]);
        let lo = cols_lo + k * b_k;
        let hi = cols_hi + k * b_k;
        a0 += v * b[lo.x];
        a1 += v * b[lo.y];
        a2 += v * b[lo.z];
        a3 += v * b[lo.w];
        a4 += v * b[hi.x];
        a5 += v * b[hi.y];
        a6 += v * b[hi.z];
        a7 += v * b[hi.w];
    }
    store_c(row0, col0, a0);
    store_c(row0, col0 + 1u, a1);
    store_c(row0, col0 + 2u, a2);
    store_c(row0, col0 + 3u, a3);
    store_c(row0, col0 + 4u, a4);
    store_c(row0, col0 + 5u, a5);
    store_c(row0, col0 + 6u, a6);
    store_c(row0, col0 + 7u, a7);
}
