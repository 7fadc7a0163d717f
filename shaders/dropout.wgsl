// Dropout (unit = one element) and channel dropout (Dropout2d; unit = one h*w plane).
// The keep mask is a hash of (seed, training step, unit), recomputed in the backward
// pass instead of stored. The step is read from the optimizer's step counter on the GPU,
// so a new mask each step costs no upload. src/reference/dropout.rs has the same hash.

struct DropoutParams { n: u32, unit_size: u32, seed: u32, drop_threshold: u32, scale: f32, training: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: DropoutParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> step: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Multiplier for element i: 0 if its unit is dropped, else 1 / (1 - rate).
fn dropout_factor(i: u32) -> f32 {
    if (p.training == 0u) { return 1.0; }
    let r = pcg_hash(pcg_hash(p.seed ^ pcg_hash(step[0])) + i / p.unit_size);
    return select(0.0, p.scale, r >= p.drop_threshold);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dropout_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n) { return; }
    y[i] = x[i] * dropout_factor(i);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn dropout_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n) { return; }
    dx[i] = dy[i] * dropout_factor(i);
}
