//! Softmax cross-entropy on the CPU: the ground truth for shaders/softmax_xent.wgsl.

/// (gradient w.r.t. logits, mean loss, number of rows whose first argmax is the label).
pub fn softmax_xent(n: usize, classes: usize, logits: &[f32], labels: &[u32]) -> (Vec<f32>, f32, u32) {
    let mut grad = vec![0f32; n * classes];
    let (mut loss, mut correct) = (0f64, 0u32);
    for r in 0..n {
        let row = &logits[r * classes..(r + 1) * classes];
        let probs = softmax(1, classes, row);
        let max = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) as f64;
        let lse = row.iter().map(|v| (*v as f64 - max).exp()).sum::<f64>().ln() + max;
        let label = labels[r] as usize;
        loss += lse - row[label] as f64;
        for j in 0..classes {
            grad[r * classes + j] = ((probs[j] as f64 - (j == label) as u8 as f64) / n as f64) as f32;
        }
        let argmax = (0..classes).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        correct += (argmax == label) as u32;
    }
    (grad, (loss / n as f64) as f32, correct)
}

pub fn softmax(n: usize, classes: usize, logits: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * classes);
    for row in logits.chunks(classes).take(n) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) as f64;
        let sum: f64 = row.iter().map(|v| (*v as f64 - max).exp()).sum();
        out.extend(row.iter().map(|v| ((*v as f64 - max).exp() / sum) as f32));
    }
    out
}
