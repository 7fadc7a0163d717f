// Input normalization, torchvision's Normalize as the network's first layer:
// y = (x - mean) / std, subtract then divide in f32 as PyTorch does, so a drawn digit
// and a training batch are normalized alike on every engine. Backward: dx = dy / std.

struct NormalizeParams { n: u32, mean: f32, deviation: f32, _p0: u32 }

@group(0) @binding(0) var<uniform> p: NormalizeParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn normalize_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                     @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n) { return; }
    y[i] = (x[i] - p.mean) / p.deviation;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn normalize_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                      @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n) { return; }
    dx[i] = dy[i] / p.deviation;
}
