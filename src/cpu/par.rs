//! Shards of a batch spread over the cores: rayon natively; one after another on wasm32,
//! where a stable toolchain has no shared-memory threads (see docs/benchmarks.md). Sums
//! over the batch (weight gradients) follow a tree fixed by the batch alone, so a step
//! rounds the same on any number of threads or data-parallel workers.

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

/// Runs `f` on each shard of `0..n` (`shards`), in parallel, and returns the results in order.
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
    let mut items = vec![(); a.len() / item_a.max(1)];
    for_shards_mut3(a, item_a, b, item_b, &mut items, 1, |r, a, b, _| f(r, a, b));
}

/// As `for_shards_mut`, over three outputs split at the same items.
pub fn for_shards_mut3<A: Send, B: Send, C: Send>(
    a: &mut [A],
    item_a: usize,
    b: &mut [B],
    item_b: usize,
    c: &mut [C],
    item_c: usize,
    f: impl Fn(Range<usize>, &mut [A], &mut [B], &mut [C]) + Sync + Send,
) {
    let n = a.len() / item_a.max(1);
    assert!(item_a > 0 && item_b > 0 && item_c > 0 && b.len() / item_b == n && c.len() / item_c == n, "outputs of different item counts");
    let ranges = shards(n);
    let mut parts = Vec::with_capacity(ranges.len());
    let (mut rest_a, mut rest_b, mut rest_c) = (a, b, c);
    for r in &ranges {
        let (head_a, tail_a) = rest_a.split_at_mut(r.len() * item_a);
        let (head_b, tail_b) = rest_b.split_at_mut(r.len() * item_b);
        let (head_c, tail_c) = rest_c.split_at_mut(r.len() * item_c);
        parts.push((r.clone(), head_a, head_b, head_c));
        (rest_a, rest_b, rest_c) = (tail_a, tail_b, tail_c);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        parts.into_par_iter().for_each(|(r, a, b, c)| f(r, a, b, c));
    }
    #[cfg(target_arch = "wasm32")]
    {
        parts.into_iter().for_each(|(r, a, b, c)| f(r, a, b, c));
    }
}

/// The most images one leaf of a batch's sum holds (see `sum_over_batch`).
pub const LEAF: usize = 64;

/// The leaves of a sum over `range`: halved (the left half `len / 2` long) until no part
/// holds more than `LEAF`. The tree depends only on the length, never on the threads.
pub fn leaves(range: Range<usize>) -> Vec<Range<usize>> {
    if range.len() <= LEAF {
        return vec![range];
    }
    let mid = range.start + range.len() / 2;
    [leaves(range.start..mid), leaves(mid..range.end)].concat()
}

/// `out` (overwritten) = the sum over the batch `0..n` of `f`'s partial sums over its
/// leaves, added pairwise up the halving tree of `leaves`. Every weight gradient sums
/// over the batch this way, so its rounding is the same on any number of threads, and a
/// batch cut into halves (or quarters) by data-parallel workers gives, through
/// `train::parallel::combine`, the very sum one worker gives: each half is a node of the
/// tree, and its mean scaled by 1/2 is exact.
pub fn sum_over_batch(out: &mut [f32], n: usize, f: impl Fn(Range<usize>) -> Vec<f32> + Sync + Send) {
    let leaves = leaves(0..n);
    #[cfg(not(target_arch = "wasm32"))]
    let mut partials: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        leaves.into_par_iter().map(f).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let mut partials: Vec<Vec<f32>> = leaves.into_iter().map(f).collect();
    add_tree(0..n, &mut partials);
    out.copy_from_slice(&partials[0][..out.len()]);
}

/// Adds `parts` (the leaves of `range`, in order) up the halving tree into `parts[0]`.
fn add_tree(range: Range<usize>, parts: &mut [Vec<f32>]) {
    if parts.len() == 1 {
        return;
    }
    let mid = range.start + range.len() / 2;
    let (left, right) = parts.split_at_mut(leaves(range.start..mid).len());
    add_tree(range.start..mid, left);
    add_tree(mid..range.end, right);
    left[0].iter_mut().zip(&right[0]).for_each(|(a, b)| *a += b);
}
