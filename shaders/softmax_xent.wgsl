// Softmax cross-entropy with mean reduction, from logits [n, classes] and labels [n]:
// one thread per row writes the gradient (softmax - onehot) / n, the row's loss
// (log-sum-exp, shifted by the row max) and whether its argmax (first on ties) is right.
// accumulate_metrics adds a batch's sums to running totals read back every few steps.

struct XentParams { n: u32, classes: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: XentParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_correct: array<f32>;
@group(0) @binding(6) var<storage, read> row_loss_in: array<f32>;
@group(0) @binding(7) var<storage, read> row_correct_in: array<f32>;
@group(0) @binding(8) var<storage, read_write> metrics: array<f32>;  // [loss sum, correct, rows]
@group(0) @binding(9) var<storage, read_write> probs: array<f32>;

fn row_max(base: u32) -> f32 {
    var m = logits[base];
    for (var j = 1u; j < p.classes; j++) { m = max(m, logits[base + j]); }
    return m;
}

fn row_argmax(base: u32) -> u32 {
    var best = 0u;
    for (var j = 1u; j < p.classes; j++) {
        if (logits[base + j] > logits[base + best]) { best = j; }
    }
    return best;
}

// Sum over the row of exp(logit - m), m the row's largest logit (no overflow).
fn row_exp_sum(base: u32, m: f32) -> f32 {
    var sum = 0.0;
    for (var j = 0u; j < p.classes; j++) { sum += exp(logits[base + j] - m); }
    return sum;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_xent(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) local: u32) {
    let r = thread_index(wg, groups, local);
    if (r >= p.n) { return; }
    let base = r * p.classes;
    let m = row_max(base);
    let sum = row_exp_sum(base, m);
    let label = labels[r];
    let inv_n = 1.0 / f32(p.n);
    for (var j = 0u; j < p.classes; j++) {
        let prob = exp(logits[base + j] - m) / sum;
        grad[base + j] = (prob - select(0.0, 1.0, j == label)) * inv_n;
    }
    row_loss[r] = log(sum) + m - logits[base + min(label, p.classes - 1u)];
    row_correct[r] = select(0.0, 1.0, row_argmax(base) == label);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn accumulate_metrics(@builtin(local_invocation_index) local: u32) {
    var l = 0.0;
    var c = 0.0;
    for (var r = local; r < p.n; r += WORKGROUP_SIZE) {
        l += row_loss_in[r];
        c += row_correct_in[r];
    }
    let loss_sum = workgroup_sum(local, l);
    let correct = workgroup_sum(local, c);
    if (local == 0u) {
        metrics[0] += loss_sum;
        metrics[1] += correct;
        metrics[2] += f32(p.n);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) local: u32) {
    let r = thread_index(wg, groups, local);
    if (r >= p.n) { return; }
    let base = r * p.classes;
    let m = row_max(base);
    let sum = row_exp_sum(base, m);
    for (var j = 0u; j < p.classes; j++) { probs[base + j] = exp(logits[base + j] - m) / sum; }
}
