// C[m, n] = op(A)[m, k] * op(B)[k, n] (+ bias[n]) (ReLU), op = identity or transpose,
// on the tiled core of gemm.wgsl. Dense layers use it three ways: y = x W^T + b,
// dx = dy W, dW = dy^T x.

fn load_a(mode: u32, row: u32, k: u32) -> f32 {
    if (p.trans_a != 0u) { return a[k * p.m + row]; }
    return a[row * p.k + k];
}

fn load_b(mode: u32, k: u32, col: u32) -> f32 {
    if (p.trans_b != 0u) { return b[col * p.k + k]; }
    return b[k * p.n + col];
}

fn store(mode: u32, row: u32, col: u32, value: f32, split: u32) {
    var v = value;
    if (p.has_bias != 0u) { v += bias[col]; }
    if (p.relu != 0u) { v = max(v, 0.0); }
    c[row * p.n + col] = v;
}

@compute @workgroup_size(256)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
          @builtin(local_invocation_index) local: u32) {
    gemm(0u, workgroup_index(wg, groups), local);
}
