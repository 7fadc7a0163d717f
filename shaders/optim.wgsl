// Optimizer updates, one dispatch over the flat parameter buffer, PyTorch's formulas
// (Keras' for Adadelta). Weight decay is L2 added to the gradient. The step counter
// lives on the GPU (begin_step increments it) so Adam's bias correction and dropout's
// masks advance with no upload, even with several steps in one submit. For the same
// reason the learning rate is read from a table of one rate per step (the schedule,
// worked out on the host in f64), indexed by the step counter; past its end the last
// rate holds, and a constant rate is a table of one.

struct OptimParams {
    n: u32, nesterov: u32, rates: u32, _p0: u32,
    momentum: f32, beta1: f32, beta2: f32, eps: f32,
    rho: f32, weight_decay: f32, _p1: f32, _p2: f32,
}

@group(0) @binding(0) var<uniform> p: OptimParams;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> s1: array<f32>;
@group(0) @binding(4) var<storage, read_write> s2: array<f32>;
@group(0) @binding(5) var<storage, read_write> step_rw: array<u32>;
@group(0) @binding(6) var<storage, read> step: array<u32>;
@group(0) @binding(7) var<storage, read> rates: array<f32>;

@compute @workgroup_size(1)
fn begin_step() {
    _ = p.n;  // binds the shared uniform like every entry point
    step_rw[0] = step_rw[0] + 1u;
}

// The rate of the step begin_step started (step counts from 1).
fn learning_rate() -> f32 {
    return rates[min(step[0] - 1u, p.rates - 1u)];
}

fn gradient(i: u32) -> f32 {
    return grads[i] + p.weight_decay * params[i];
}

// v = momentum * v + g; p -= lr * (nesterov ? g + momentum * v : v)
@compute @workgroup_size(WORKGROUP_SIZE)
fn sgd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
       @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n) { return; }
    let g = gradient(i);
    let v = p.momentum * s1[i] + g;
    s1[i] = v;
    params[i] -= learning_rate() * select(v, g + p.momentum * v, p.nesterov != 0u);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn adam(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n) { return; }
    let g = gradient(i);
    let t = f32(step[0]);
    let m = mix(g, s1[i], p.beta1);
    let v = mix(g * g, s2[i], p.beta2);
    s1[i] = m;
    s2[i] = v;
    let m_hat = m / (1.0 - pow(p.beta1, t));
    let v_hat = v / (1.0 - pow(p.beta2, t));
    params[i] -= learning_rate() * m_hat / (sqrt(v_hat) + p.eps);
}

// v = rho * v + (1 - rho) g^2; p -= lr * g / (sqrt(v) + eps)
@compute @workgroup_size(WORKGROUP_SIZE)
fn rmsprop(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n) { return; }
    let g = gradient(i);
    let v = mix(g * g, s1[i], p.rho);
    s1[i] = v;
    params[i] -= learning_rate() * g / (sqrt(v) + p.eps);
}

// Zeiler's Adadelta: accumulated squared gradients (s1) and squared updates (s2).
@compute @workgroup_size(WORKGROUP_SIZE)
fn adadelta(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.n) { return; }
    let g = gradient(i);
    let v = mix(g * g, s1[i], p.rho);
    let delta = sqrt(s2[i] + p.eps) / sqrt(v + p.eps) * g;
    s1[i] = v;
    s2[i] = mix(delta * delta, s2[i], p.rho);
    params[i] -= learning_rate() * delta;
}
