// Per-channel sums of a tensor viewed as [outer, channels, inner]: the bias gradient of
// a convolution (outer = batch, inner = h * w) or of a dense layer (inner = 1).

struct ReduceParams { outer: u32, channels: u32, inner: u32, _p0: u32 }
// split_sum reads outer = number of partial results, channels = length of each.

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn channel_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
               @builtin(local_invocation_index) local: u32) {
    let c = workgroup_index(wg, groups);
    if (c >= p.channels) { return; }
    var acc = 0.0;
    for (var t = local; t < p.outer * p.inner; t += WORKGROUP_SIZE) {
        let o = t / p.inner;
        acc += x[(o * p.channels + c) * p.inner + t % p.inner];
    }
    let total = workgroup_sum(local, acc);
    if (local == 0u) { sums[c] = total; }
}

// sums[i] = sum over s of x[s * channels + i]: adds up split-K partial products, one
// thread per output (channel_sum would spend a workgroup on each).
@compute @workgroup_size(WORKGROUP_SIZE)
fn split_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
             @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.channels) { return; }
    var acc = 0.0;
    for (var s = 0u; s < p.outer; s++) { acc += x[s * p.channels + i]; }
    sums[i] = acc;
}
