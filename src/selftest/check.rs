//! Comparison helpers: random inputs, one named tolerance, finite differences.

pub use crate::rng::Rng;

/// Largest accepted relative error of an engine's result against the f64 reference. The
/// denominator has a floor of RELATIVE_FLOOR of the largest reference value, so elements
/// that cancel to near zero are judged against the scale of the sum (as llm.c does).
pub const TOLERANCE: f64 = 1e-4;
/// The floor of that denominator, as a fraction of the largest reference value. It was
/// 1%: then a 3,168-term f32 dot product (dense backward input, [2, 576] -> 3168) whose
/// result cancelled to near zero failed on SwiftShader at 1.11e-4 in one of five runs of
/// the page's self-test, the rounding of a sequential f32 sum over terms 30x its result.
/// Any real bug is an error of order one at this floor too.
pub const RELATIVE_FLOOR: f64 = 5e-2;
/// Largest accepted relative error of a whole network's logits against the reference
/// network: up to twelve layers of f32 rounding compound (SwiftShader once gave 1.26e-4
/// for pytorch-convnet, in one of five runs of the page's self-test). The case looks for
/// layout bugs, which are O(1) errors (the old running-statistics layout gave such).
pub const NETWORK_TOLERANCE: f64 = 1e-3;
/// Largest accepted relative error of an analytic gradient against central finite
/// differences of the reference forward pass (f32 outputs bound its precision).
pub const FD_TOLERANCE: f64 = 1e-2;

/// What one case checked and the worst error it saw.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub name: &'static str,
    /// Largest relative error against the reference.
    pub max_rel_err: f64,
    /// Largest relative error of a gradient against finite differences (0 if none).
    pub max_fd_err: f64,
    /// The shapes covered, in words.
    pub shapes: Vec<String>,
}

impl Report {
    pub fn new(name: &'static str) -> Report {
        Report { name, ..Default::default() }
    }

    /// Compares `gpu` with `reference` element by element; fails on NaN, on a length
    /// mismatch and past TOLERANCE.
    pub fn compare(&mut self, what: &str, gpu: &[f32], reference: &[f32]) -> Result<(), String> {
        self.compare_within(what, gpu, reference, TOLERANCE)
    }

    /// `compare` with another named tolerance (`NETWORK_TOLERANCE` for whole networks).
    pub fn compare_within(&mut self, what: &str, gpu: &[f32], reference: &[f32], tolerance: f64) -> Result<(), String> {
        let err = relative_error(gpu, reference).map_err(|e| format!("{}: {what}: {e}", self.name))?;
        if err > tolerance {
            return Err(format!("{}: {what}: relative error {err:.3e} exceeds {tolerance:e}", self.name));
        }
        self.max_rel_err = self.max_rel_err.max(err);
        Ok(())
    }

    /// Exact comparison (indices, counters).
    pub fn compare_exact<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, gpu: &[T], reference: &[T]) -> Result<(), String> {
        if gpu.len() != reference.len() {
            return Err(format!("{}: {what}: {} elements, expected {}", self.name, gpu.len(), reference.len()));
        }
        match gpu.iter().zip(reference).position(|(a, b)| a != b) {
            Some(i) => Err(format!("{}: {what}: element {i} is {:?}, expected {:?}", self.name, gpu[i], reference[i])),
            None => Ok(()),
        }
    }

    /// Checks an analytic gradient against central differences of `loss` at `x`, at up
    /// to `samples` indices (all if fewer), skipping indices `skip` rejects (kinks).
    pub fn check_fd(
        &mut self,
        what: &str,
        x: &[f32],
        grad: &[f32],
        eps: f32,
        rng: &mut Rng,
        samples: usize,
        skip: impl Fn(usize) -> bool,
        loss: impl Fn(&[f32]) -> f64,
    ) -> Result<(), String> {
        let scale = grad.iter().fold(0f64, |m, g| m.max(g.abs() as f64)).max(1e-6);
        let indices: Vec<usize> =
            if x.len() <= samples { (0..x.len()).collect() } else { (0..samples).map(|_| rng.below(x.len())).collect() };
        let mut checked = 0;
        let mut xp = x.to_vec();
        for i in indices.into_iter().filter(|&i| !skip(i)) {
            xp[i] = x[i] + eps;
            let up = loss(&xp);
            xp[i] = x[i] - eps;
            let down = loss(&xp);
            xp[i] = x[i];
            let fd = (up - down) / (2.0 * eps as f64);
            let g = grad[i] as f64;
            if !g.is_finite() {
                return Err(format!("{}: {what}: gradient {i} is {g}", self.name));
            }
            let err = (fd - g).abs() / fd.abs().max(g.abs()).max(1e-2 * scale);
            if err > FD_TOLERANCE {
                return Err(format!("{}: {what}: gradient {i} is {g:.6e}, finite differences say {fd:.6e} (error {err:.2e})", self.name));
            }
            self.max_fd_err = self.max_fd_err.max(err);
            checked += 1;
        }
        if checked == 0 {
            return Err(format!("{}: {what}: no element was checked against finite differences", self.name));
        }
        Ok(())
    }
}

/// Checks the gradients (dx, dw, db) of a layer y = f(x, w, b), the reference's and an
/// engine's, against central finite differences (step 1e-2) of `loss`, a scalar of the
/// reference forward pass, at up to `samples` indices of each.
#[allow(clippy::too_many_arguments)]
pub fn check_layer_fd(
    rep: &mut Report,
    rng: &mut Rng,
    samples: usize,
    [x, w, b]: [&[f32]; 3],
    reference: &[Vec<f32>; 3],
    engine: &[Vec<f32>; 3],
    loss: impl Fn(&[f32], &[f32], &[f32]) -> f64,
) -> Result<(), String> {
    for grads in [reference, engine] {
        rep.check_fd("dx", x, &grads[0], 1e-2, rng, samples, |_| false, |v| loss(v, w, b))?;
        rep.check_fd("dw", w, &grads[1], 1e-2, rng, samples, |_| false, |v| loss(x, v, b))?;
        rep.check_fd("db", b, &grads[2], 1e-2, rng, samples, |_| false, |v| loss(x, w, v))?;
    }
    Ok(())
}

/// max_i |a_i - r_i| / max(|r_i|, 5% of max |r|); an error for NaN or a length mismatch.
pub fn relative_error(a: &[f32], r: &[f32]) -> Result<f64, String> {
    if a.len() != r.len() {
        return Err(format!("{} elements, expected {}", a.len(), r.len()));
    }
    let floor = r.iter().fold(0f64, |m, v| m.max(v.abs() as f64)) * RELATIVE_FLOOR;
    let floor = if floor > 0.0 { floor } else { 1e-12 };
    let mut worst = 0f64;
    for (i, (&x, &y)) in a.iter().zip(r).enumerate() {
        if !x.is_finite() || !y.is_finite() {
            return Err(format!("element {i} is {x} (reference {y}): unwritten or not finite"));
        }
        worst = worst.max((x as f64 - y as f64).abs() / (y.abs() as f64).max(floor));
    }
    Ok(worst)
}

/// sum_i r_i * y_i in f64: a scalar loss whose gradient w.r.t. y is r.
pub fn project(y: &[f32], r: &[f32]) -> f64 {
    y.iter().zip(r).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Seed for a case: varies from run to run (fresh inputs), printed on failure.
pub fn fresh_seed() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        (js_sys::Math::random() * 4294967296.0) as u64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        // SUITE_SEED=<seed from a failure> reruns a case on the inputs that failed.
        if let Some(seed) = std::env::var("SUITE_SEED").ok().and_then(|s| s.parse().ok()) {
            return seed;
        }
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    }
}
