//! Softmax cross-entropy on the CPU engine (shaders/softmax_xent.wgsl; reference:
//! `reference::softmax_xent`): the logit gradient of the mean loss, each row's loss and
//! whether its first argmax is the label.

pub fn softmax_xent(
    n: usize,
    classes: usize,
    logits: &[f32],
    labels: &[u32],
    grad: &mut [f32],
    row_loss: &mut [f32],
    row_correct: &mut [f32],
) {
    let inv_n = 1.0 / n as f32;
    for r in 0..n {
        let row = &logits[r * classes..(r + 1) * classes];
        let (max, argmax) = row.iter().enumerate().fold((row[0], 0), |(m, a), (j, &v)| if v > m { (v, j) } else { (m, a) });
        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
        let label = labels[r] as usize;
        for (j, g) in grad[r * classes..(r + 1) * classes].iter_mut().enumerate() {
            *g = ((row[j] - max).exp() / sum - (j == label) as u8 as f32) * inv_n;
        }
        row_loss[r] = sum.ln() + max - row[label.min(classes - 1)];
        row_correct[r] = (argmax == label) as u8 as f32;
    }
}

pub fn softmax(n: usize, classes: usize, logits: &[f32], probs: &mut [f32]) {
    for (row, out) in logits.chunks(classes).zip(probs.chunks_mut(classes)).take(n) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
        out.iter_mut().zip(row).for_each(|(p, v)| *p = (v - max).exp() / sum);
    }
}
