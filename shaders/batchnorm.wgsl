// Batch normalization over channels of a tensor viewed as [n, channels, inner]
// (inner = h * w; 1 after a dense layer). Train mode normalizes with the batch's
// statistics (biased variance, two passes for stability) and moves the running
// statistics toward them; eval mode uses the running statistics.
// stats = [mean[c].., invstd[c]..]; running = [mean[c].., var[c]..].

struct BatchNormParams { n: u32, channels: u32, inner: u32, training: u32, eps: f32, momentum: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: BatchNormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> running: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read> dy: array<f32>;
@group(0) @binding(8) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(9) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<f32>;
@group(0) @binding(11) var<storage, read> stats_in: array<f32>;
@group(0) @binding(12) var<storage, read> dgamma_in: array<f32>;
@group(0) @binding(13) var<storage, read> dbeta_in: array<f32>;
@group(0) @binding(14) var<storage, read> running_in: array<f32>;

fn at(t: u32, c: u32) -> u32 {
    return ((t / p.inner) * p.channels + c) * p.inner + t % p.inner;
}

// One workgroup per channel: batch mean and inverse standard deviation, running update.
@compute @workgroup_size(WORKGROUP_SIZE)
fn batchnorm_stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) local: u32) {
    let c = workgroup_index(wg, groups);
    if (c >= p.channels) { return; }
    let count = p.n * p.inner;
    var s = 0.0;
    for (var t = local; t < count; t += WORKGROUP_SIZE) { s += x[at(t, c)]; }
    let mean = workgroup_sum(local, s) / f32(count);
    var q = 0.0;
    for (var t = local; t < count; t += WORKGROUP_SIZE) { let d = x[at(t, c)] - mean; q += d * d; }
    let variance = workgroup_sum(local, q) / f32(count);
    if (local == 0u) {
        stats[c] = mean;
        stats[p.channels + c] = inverseSqrt(variance + p.eps);
        running[c] = mix(running[c], mean, p.momentum);
        running[p.channels + c] = mix(running[p.channels + c], variance, p.momentum);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn batchnorm_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n * p.channels * p.inner) { return; }
    let c = (i / p.inner) % p.channels;
    var mean = running_in[c];
    var invstd = inverseSqrt(running_in[p.channels + c] + p.eps);
    if (p.training != 0u) {
        mean = stats_in[c];
        invstd = stats_in[p.channels + c];
    }
    y[i] = gamma[c] * (x[i] - mean) * invstd + beta[c];
}

// One workgroup per channel: dgamma = sum(dy * xhat), dbeta = sum(dy).
@compute @workgroup_size(WORKGROUP_SIZE)
fn batchnorm_backward_params(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                             @builtin(local_invocation_index) local: u32) {
    let c = workgroup_index(wg, groups);
    if (c >= p.channels) { return; }
    let mean = stats_in[c];
    let invstd = stats_in[p.channels + c];
    var sg = 0.0;
    var sb = 0.0;
    for (var t = local; t < p.n * p.inner; t += WORKGROUP_SIZE) {
        let j = at(t, c);
        sg += dy[j] * (x[j] - mean) * invstd;
        sb += dy[j];
    }
    let total_g = workgroup_sum(local, sg);
    let total_b = workgroup_sum(local, sb);
    if (local == 0u) {
        dgamma[c] = total_g;
        dbeta[c] = total_b;
    }
}

// dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma), m = n * inner.
@compute @workgroup_size(WORKGROUP_SIZE)
fn batchnorm_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                            @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n * p.channels * p.inner) { return; }
    let c = (i / p.inner) % p.channels;
    let m = f32(p.n * p.inner);
    let invstd = stats_in[p.channels + c];
    let xhat = (x[i] - stats_in[c]) * invstd;
    dx[i] = gamma[c] * invstd / m * (m * dy[i] - dbeta_in[c] - xhat * dgamma_in[c]);
}

// Eval mode, the input gradient alone (saliency): batch norm on its running statistics is
// a per-channel affine map, so dx = dy * gamma * invstd.
@compute @workgroup_size(WORKGROUP_SIZE)
fn batchnorm_backward_eval(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                           @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n * p.channels * p.inner) { return; }
    let c = (i / p.inner) % p.channels;
    dx[i] = dy[i] * gamma[c] * inverseSqrt(running_in[p.channels + c] + p.eps);
}
