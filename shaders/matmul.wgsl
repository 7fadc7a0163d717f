// C[m, n] = op(A)[m, k] * op(B)[k, n] (+ bias[n]) (ReLU), op = identity or transpose.
// Dense layers use it three ways: y = x W^T + b, dx = dy W, dW = dy^T x.
// Tiled: each 16x16 workgroup stages a TILE x TILE block of A and B in workgroup memory
// per step along k, so each element is loaded from storage once per tile, not per output.

const TILE: u32 = 16u;

struct MatmulParams { m: u32, n: u32, k: u32, trans_a: u32, trans_b: u32, has_bias: u32, relu: u32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

var<workgroup> tile_a: array<f32, 256>;  // [row][k]
var<workgroup> tile_b: array<f32, 256>;  // [k][col]

fn load_a(row: u32, k: u32) -> f32 {
    if (row >= p.m || k >= p.k) { return 0.0; }
    if (p.trans_a != 0u) { return a[k * p.m + row]; }
    return a[row * p.k + k];
}

fn load_b(k: u32, col: u32) -> f32 {
    if (k >= p.k || col >= p.n) { return 0.0; }
    if (p.trans_b != 0u) { return b[col * p.k + k]; }
    return b[k * p.n + col];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = workgroup_index(wg, groups);
    let tiles_n = (p.n + TILE - 1u) / TILE;
    let row = (tile / tiles_n) * TILE + lid.y;
    let col = (tile % tiles_n) * TILE + lid.x;
    var acc = 0.0;
    for (var k0 = 0u; k0 < p.k; k0 += TILE) {
        tile_a[lid.y * TILE + lid.x] = load_a(row, k0 + lid.x);
        tile_b[lid.y * TILE + lid.x] = load_b(k0 + lid.y, col);
        workgroupBarrier();
        for (var kk = 0u; kk < TILE; kk++) {
            acc += tile_a[lid.y * TILE + kk] * tile_b[kk * TILE + lid.x];
        }
        workgroupBarrier();
    }
    if (row < p.m && col < p.n) {
        if (p.has_bias != 0u) { acc += bias[col]; }
        if (p.relu != 0u) { acc = max(acc, 0.0); }
        c[row * p.n + col] = acc;
    }
}
