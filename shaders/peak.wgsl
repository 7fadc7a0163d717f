// Arithmetic peak of an adapter: each thread runs 8 independent vec4 multiply-add chains
// (no memory traffic in the loop), so the time is bound by f32 throughput alone.
// 2 flops per multiply-add, 4 lanes, 8 chains, `iterations` times per thread.

struct PeakParams { iterations: u32, threads: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: PeakParams;
@group(0) @binding(1) var<storage, read_write> sink: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn peak_fma(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.threads) { return; }
    let s = f32(i) * 1e-7;
    let m = vec4<f32>(0.999, 0.998, 0.997, 0.996);
    let a = vec4<f32>(1e-3);
    var c0 = vec4<f32>(s); var c1 = c0 + 1.0; var c2 = c0 + 2.0; var c3 = c0 + 3.0;
    var c4 = c0 + 4.0; var c5 = c0 + 5.0; var c6 = c0 + 6.0; var c7 = c0 + 7.0;
    for (var k = 0u; k < p.iterations; k++) {
        c0 = fma(c0, m, a); c1 = fma(c1, m, a); c2 = fma(c2, m, a); c3 = fma(c3, m, a);
        c4 = fma(c4, m, a); c5 = fma(c5, m, a); c6 = fma(c6, m, a); c7 = fma(c7, m, a);
    }
    let t = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7;
    // Written only if the impossible happens, so the chains cannot be optimized away.
    if (t.x + t.y + t.z + t.w == 12345.678) { sink[i % 4u] = t.x; }
}
