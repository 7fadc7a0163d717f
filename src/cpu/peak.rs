//! The CPU's f32 multiply-add peak, measured: independent chains of `Lanes::madd` with no
//! memory traffic, on each ISA this build runs (AVX-512 and AVX2+FMA natively; simd128 in
//! wasm, fused with relaxed SIMD's `f32x4.relaxed_madd` where the build has it, else a
//! multiply and an add). It is the ceiling the engine's passes are measured against
//! (`bench --peak`, docs/benchmarks.md "The CPU's limit").

use super::simd::{Isa, Lanes};
use crate::clock::now_ms;

/// Independent accumulators: a multiply-add's latency (4 cycles) times the two FMA ports,
/// with room to spare, within 16 registers (AVX2, and the xmm registers V8 maps simd128 to).
const CHAINS: usize = 12;

/// `iters` rounds of `CHAINS` multiply-adds; returns a value that depends on all of them
/// (so none is optimized away).
#[inline(always)]
unsafe fn chains<L: Lanes>(iters: usize, seed: f32) -> f32 {
    let a = L::splat(0.999_9);
    let b = L::splat(seed);
    let mut acc = [L::splat(seed); CHAINS];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = L::madd(*v, a, b);
        }
    }
    let mut sum = acc[0];
    for v in &acc[1..] {
        sum = L::add(sum, *v);
    }
    let mut out = [0f32; 16];
    L::store(out.as_mut_ptr(), sum);
    out[..L::N].iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[inline(never)]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn chains_avx512(iters: usize, seed: f32) -> f32 {
    chains::<super::simd::Avx512>(iters, seed)
}

#[cfg(target_arch = "x86_64")]
#[inline(never)]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2(iters: usize, seed: f32) -> f32 {
    chains::<super::simd::Avx2>(iters, seed)
}

// Never inlined: V8 compiles a wasm function first with its baseline compiler (Liftoff,
// locals in stack slots) and swaps in the optimized code at a later call, never inside a
// running one, so a loop inlined into its caller was timed at half speed (13.0 against 23.7
// GFLOP/s in Chromium 156 here).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
unsafe fn chains_simd128(iters: usize, seed: f32) -> f32 {
    chains::<super::simd::Simd128>(iters, seed)
}

/// Runs `iters` rounds on `isa`; returns the FLOPs done (a multiply-add counts two per lane).
fn run(isa: Isa, iters: usize, seed: f32) -> (f64, f32) {
    // SAFETY: `isa` comes from `Isa::available()` (checked by `measure`).
    let (lanes, out) = unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => (16, chains_avx512(iters, seed)),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => (8, chains_avx2(iters, seed)),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => (4, chains_simd128(iters, seed)),
            #[allow(unreachable_patterns)]
            _ => unreachable!("{isa:?} is not built for this target"),
        }
    };
    ((2 * lanes * CHAINS * iters) as f64, out)
}

/// One ISA's measured peak.
#[derive(Clone, Debug)]
pub struct Peak {
    pub isa: &'static str,
    pub threads: usize,
    /// Best of the rounds, GFLOP/s over all threads.
    pub gflops: f64,
}

/// The multiply-add peak of `isa` on `threads` threads (natively; wasm runs one), best of
/// `rounds` rounds of about `round_ms` each. None if this CPU or build lacks `isa`.
pub fn measure(isa: Isa, threads: usize, rounds: usize, round_ms: f64) -> Option<Peak> {
    if !Isa::available().contains(&isa) {
        return None;
    }
    let threads = if cfg!(target_arch = "wasm32") { 1 } else { threads.max(1) };
    // Calibrate one thread's rounds to about `round_ms`.
    let mut iters = 1 << 12;
    loop {
        let t = now_ms();
        std::hint::black_box(run(isa, iters, 1e-7));
        let ms = now_ms() - t;
        if ms > round_ms / 4.0 || iters > 1 << 30 {
            iters = ((iters as f64) * round_ms / ms.max(1e-3)) as usize;
            break;
        }
        iters *= 4;
    }
    let mut best = 0f64;
    for _ in 0..rounds.max(1) {
        let t = now_ms();
        let flops = on_threads(threads, |i| std::hint::black_box(run(isa, iters, 1e-7 * (i + 1) as f32)).0);
        best = best.max(flops / ((now_ms() - t) * 1e6));
    }
    Some(Peak { isa: isa_name(isa), threads, gflops: best })
}

/// The peak of the best ISA this build runs on `threads` threads.
pub fn best(threads: usize) -> Option<Peak> {
    measure(Isa::best()?, threads, 5, 40.0)
}

/// Every ISA this build runs, on each of `threads` (a table's rows).
pub fn table(threads: &[usize]) -> Vec<Peak> {
    Isa::available().into_iter().flat_map(|isa| threads.iter().filter_map(move |&t| measure(isa, t, 7, 60.0))).collect()
}

/// The ISA as the kernels run it: simd128's multiply-add is fused in a relaxed-SIMD build.
pub fn isa_name(isa: Isa) -> &'static str {
    match isa {
        Isa::Simd128 if cfg!(target_feature = "relaxed-simd") => "simd128 + relaxed madd",
        Isa::Simd128 => "simd128 (mul + add)",
        _ => isa.name(),
    }
}

/// `f(i)` on `n` threads at once (natively); the sum of what they return.
fn on_threads(n: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    s.spawn({
                        let f = &f;
                        move || f(i)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a peak thread panicked")).sum()
        })
    }
    #[cfg(target_arch = "wasm32")]
    {
        (0..n).map(f).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lane runs v <- v * 0.9999 + seed from v = seed; the chains' sum must be that
    /// recurrence in f64 times the lanes (so a kernel that skipped or fused away work fails).
    #[test]
    fn the_chains_compute_their_multiply_adds() {
        for isa in Isa::available() {
            let (iters, seed) = (1000, 0.25f32);
            let (flops, got) = run(isa, iters, seed);
            let lanes = flops / (2 * CHAINS * iters) as f64;
            let mut v = seed as f64;
            for _ in 0..iters {
                v = v * 0.9999f32 as f64 + seed as f64;
            }
            let want = v * lanes * CHAINS as f64;
            assert!(((got as f64 - want) / want).abs() < 1e-3, "{isa:?}: {got} against {want}");
            let peak = measure(isa, 1, 2, 5.0).unwrap();
            assert!(peak.gflops.is_finite() && peak.gflops > 0.1, "{isa:?}: {peak:?}");
        }
    }
}
