//! Shards of a batch spread over the cores: rayon natively; one after another on wasm32,
//! where a stable toolchain has no shared-memory threads (see docs/benchmarks.md).

use std::ops::Range;

/// Threads the shards are spread over.
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::current_num_threads()
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// Splits `0..n` into at most `threads()` contiguous ranges of near-equal size.
pub fn shards(n: usize) -> Vec<Range<usize>> {
    let parts = threads().min(n).max(1);
    (0..parts).map(|i| n * i / parts..n * (i + 1) / parts).filter(|r| !r.is_empty()).collect()
}

/// Runs `f` on each shard of `0..n`, in parallel, and returns the results in order.
pub fn map_shards<R: Send>(n: usize, f: impl Fn(Range<usize>) -> R + Sync + Send) -> Vec<R> {
    let ranges = shards(n);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        ranges.into_par_iter().map(f).collect()
    }
    #[cfg(target_arch = "wasm32")]
    {
        ranges.into_iter().map(f).collect()
    }
}

/// Splits `out` into `n` items of `item` elements each and runs `f(items, out_part)` on
/// each shard in parallel: every shard writes only its own part of the output.
pub fn for_shards_mut<T: Send>(out: &mut [T], item: usize, f: impl Fn(Range<usize>, &mut [T]) + Sync + Send) {
    assert!(item > 0 && out.len().is_multiple_of(item), "output of {} elements is not whole items of {item}", out.len());
    let mut items = vec![(); out.len() / item];
    for_shards_mut2(out, item, &mut items, 1, |r, out, _| f(r, out));
}

/// As `for_shards_mut`, over two outputs split at the same items (`item_a` and `item_b`
/// elements per item).
pub fn for_shards_mut2<A: Send, B: Send>(
    a: &mut [A],
    item_a: usize,
    b: &mut [B],
    item_b: usize,
    f: impl Fn(Range<usize>, &mut [A], &mut [B]) + Sync + Send,
) {
    assert!(item_a > 0 && item_b > 0 && a.len() / item_a == b.len() / item_b, "outputs of different item counts");
    let ranges = shards(a.len() / item_a);
    let mut parts = Vec::with_capacity(ranges.len());
    let (mut rest_a, mut rest_b) = (a, b);
    for r in &ranges {
        let (head_a, tail_a) = rest_a.split_at_mut(r.len() * item_a);
        let (head_b, tail_b) = rest_b.split_at_mut(r.len() * item_b);
        parts.push((r.clone(), head_a, head_b));
        (rest_a, rest_b) = (tail_a, tail_b);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        parts.into_par_iter().for_each(|(r, a, b)| f(r, a, b));
    }
    #[cfg(target_arch = "wasm32")]
    {
        parts.into_iter().for_each(|(r, a, b)| f(r, a, b));
    }
}

/// Adds the shards' partial sums into `out` (overwriting it).
pub fn sum_into(out: &mut [f32], partials: &[Vec<f32>]) {
    out.copy_from_slice(&partials[0]);
    for p in &partials[1..] {
        out.iter_mut().zip(p).for_each(|(o, v)| *o += v);
    }
}
