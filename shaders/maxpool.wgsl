// Max-pooling 2x2, stride 2, NCHW; odd sizes floor (13 -> 6). The forward pass records
// which input won each window (the first maximum in row-major order on ties), so the
// backward pass routes each gradient to exactly that input.

struct PoolParams { planes: u32, in_h: u32, in_w: u32, out_h: u32, out_w: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: PoolParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn maxpool_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.planes * p.out_h * p.out_w) { return; }
    let ox = i % p.out_w;
    let oy = (i / p.out_w) % p.out_h;
    let plane = i / (p.out_w * p.out_h);
    let top_left = (plane * p.in_h + oy * 2u) * p.in_w + ox * 2u;
    var best = top_left;
    for (var k = 1u; k < 4u; k++) {
        let j = top_left + (k / 2u) * p.in_w + k % 2u;
        if (x[j] > x[best]) { best = j; }
    }
    y[i] = x[best];
    argmax[i] = best;
}

// One thread per input element: it receives dy of its window if it was that window's max.
@compute @workgroup_size(WORKGROUP_SIZE)
fn maxpool_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.planes * p.in_h * p.in_w) { return; }
    let ix = i % p.in_w;
    let iy = (i / p.in_w) % p.in_h;
    let plane = i / (p.in_w * p.in_h);
    let oy = iy / 2u;
    let ox = ix / 2u;
    var g = 0.0;
    if (oy < p.out_h && ox < p.out_w) {
        let o = (plane * p.out_h + oy) * p.out_w + ox;
        if (argmax_in[o] == i) { g = dy[o]; }
    }
    dx[i] = g;
}
