#!/usr/bin/env python3
"""Roofline model of one training step of the GPU engine, per dispatch (stdlib only).

    scripts/roofline.py [--launch-us 5] [--browser-us 25] [--align-words 64]

Lists every dispatch one training step records (the batch gather, forward, loss,
backward, optimizer), in the order src/train/mod.rs and src/model/graph.rs record them,
for `pytorch-cnn` (batch 200 and 64) and `fast` (batch 256), and prints markdown tables:
FLOPs, bytes, intensity, the roofline time max(FLOPs / peak, bytes / bandwidth) on three
GPU classes, and whether the dispatch would be bound by compute, memory, or the per-
dispatch launch overhead. Nothing is measured; every number follows from the shapes and
from how the kernels in shaders/ are written:

- FLOPs: 2 per multiply-add. "useful" counts the convolution/matmul arithmetic (padding
  taps of a padded convolution included, as benchmark.rs counts them); "issued" is what
  the tiled GEMM core (shaders/gemm.wgsl: 32 x 64 tiles, k in slices of 16, split-K)
  executes, zero-filled tile rows, columns and k-slices included. Roofline times use
  "issued". Elementwise kernels count one FLOP per compare/add/multiply (exp, sqrt, pow
  as one); they are memory-bound anyway.
- Bytes: compulsory traffic, each tensor a dispatch reads or writes counted once at its
  size (f32 and u32: 4 bytes; the images as packed u8). Re-reads of the same tensor
  inside a dispatch (the implicit GEMM's im2col reads, tile re-loads, maxpool backward's
  4 threads per argmax) are assumed to hit L1/L2; "loads MB" gives the global loads the
  GEMM tiles issue before any cache, to show how much the caches must absorb.
- Launch-bound: the roofline time is below the assumed per-dispatch overhead, 5 µs
  natively (a chunk of steps is one compute pass with bind groups made once: what is
  left is wgpu's recording, about 2 µs a dispatch in gfx-rs/wgpu#5766, plus the GPU's
  drain between dependent dispatches) and 25 µs in a browser (24-36 µs on Vulkan,
  32-71 µs on Metal per WebGPU dispatch in arXiv:2604.02344). Assumed, not measured.
"""

import argparse

F32 = 4
# shaders/gemm.wgsl tiles, src/ops/conv2d.rs split-K policy, common.wgsl workgroup size.
BM, BN, BK = 32, 64, 16
WORKGROUP = 256
MIN_WORKGROUPS, MIN_K_PER_SPLIT = 64, 256
CLASSES = 10

# (name, f32 FLOP/s, bytes/s)
GPUS = [("iGPU", 2.0e12, 60e9), ("M2-class", 3.6e12, 100e9), ("desktop", 13.0e12, 360e9)]

# The networks as spec layers (src/model/spec.rs). Normalize is one elementwise dispatch
# (shaders/normalize.wgsl); as the first layer it needs no backward.
NETS = {
    "pytorch-cnn": [("conv", 16, 5, 2), ("relu",), ("pool",), ("conv", 32, 5, 2), ("relu",), ("pool",), ("flatten",), ("dense", 10)],
    "fast": [
        ("normalize",),
        ("conv", 24, 5, 0),
        ("pool",),
        ("relu",),
        ("conv", 32, 3, 0),
        ("pool",),
        ("relu",),
        ("flatten",),
        ("dense", 256),
        ("relu",),
        ("dense", 10),
    ],
}


def cdiv(a, b):
    return -(-a // b)


class Dispatch:
    def __init__(self, entry, layer, workgroups, useful, issued, nbytes, loads=None, note=""):
        self.entry, self.layer, self.workgroups = entry, layer, workgroups
        self.useful, self.issued, self.bytes, self.loads, self.note = useful, issued, nbytes, loads, note

    def times(self):
        """Roofline seconds per GPU class, and which side bounds it."""
        out = []
        for _, peak, bw in GPUS:
            tc, tm = self.issued / peak, self.bytes / bw
            out.append((max(tc, tm), "C" if tc >= tm else "M"))
        return out


def elementwise(entry, layer, threads, flops, nbytes, note=""):
    return Dispatch(entry, layer, cdiv(threads, WORKGROUP), flops, flops, nbytes, note=note)


# ---- the tiled GEMM core ------------------------------------------------------------


def gemm_issued(m, n, k, k_chunk):
    """Workgroups and multiply-adds the tiled core executes for C[m, n] over k, split-K
    by k_chunk: every workgroup runs BM x BN x BK multiply-adds per k slice."""
    tiles = cdiv(m, BM) * cdiv(n, BN)
    splits = cdiv(k, k_chunk)
    fma = sum(tiles * cdiv(min(k, (s + 1) * k_chunk) - s * k_chunk, BK) * BM * BN * BK for s in range(splits))
    return tiles * splits, fma


def conv_gemm(m, n, k, allow_split):
    """src/ops/conv2d.rs Gemm::new: split k until there are MIN_WORKGROUPS workgroups."""
    tiles = cdiv(m, BM) * cdiv(n, BN)
    max_splits = cdiv(k, MIN_K_PER_SPLIT) if allow_split else 1
    splits = min(max(cdiv(MIN_WORKGROUPS, tiles), 1), max(max_splits, 1))
    return cdiv(cdiv(k, splits), BK) * BK


def valid_taps(out, k, pad, size):
    """Fraction of (position, tap) pairs of one axis that land inside the tensor read;
    load_b returns 0 without a load for the others."""
    return sum(1 for o in range(out) for t in range(k) if 0 <= o + t - pad < size) / (out * k)


def tile_loads(m, n, k, b_fraction=1.0):
    """Global loads (elements) of the tiled core: A once per column of tiles, B once per
    row of tiles (the implicit GEMM's im2col reads)."""
    return m * k * cdiv(n, BN) + k * n * cdiv(m, BM) * b_fraction


# ---- layers -------------------------------------------------------------------------


class Conv:
    def __init__(self, name, dims, out_c, kernel, pad):
        self.name, self.out_c, self.k, self.pad = name, out_c, kernel, pad
        self.in_c, self.in_h, self.in_w = dims
        self.out_h = self.in_h + 2 * pad - kernel + 1
        self.out_w = self.in_w + 2 * pad - kernel + 1
        self.relu = False

    def output(self):
        return (self.out_c, self.out_h, self.out_w)

    def tensors(self):
        return [self.out_c * self.in_c * self.k * self.k, self.out_c]

    def lens(self, b):
        return b * self.in_c * self.in_h * self.in_w, self.out_c * self.in_c * self.k * self.k, b * self.out_c * self.out_h * self.out_w

    def fwd_fraction(self):
        return valid_taps(self.out_h, self.k, self.pad, self.in_h) * valid_taps(self.out_w, self.k, self.pad, self.in_w)

    def forward(self, b):
        x, w, y = self.lens(b)
        m, n, k = self.out_c, b * self.out_h * self.out_w, self.in_c * self.k * self.k
        wgs, fma = gemm_issued(m, n, k, conv_gemm(m, n, k, False))
        return Dispatch("conv2d_forward", self.name, wgs, 2 * m * n * k, 2 * fma, F32 * (x + w + self.out_c + y), F32 * tile_loads(m, n, k, self.fwd_fraction()))

    def backward_input(self, b):
        x, w, y = self.lens(b)
        m, n, k = self.in_c, b * self.in_h * self.in_w, self.out_c * self.k * self.k
        wgs, fma = gemm_issued(m, n, k, conv_gemm(m, n, k, False))
        # output_grad_at: input position iy receives dy[oy] through tap ky when oy = iy + pad - ky is in range.
        frac = valid_taps(self.in_h, self.k, self.pad, self.out_h) * valid_taps(self.in_w, self.k, self.pad, self.out_w)
        # useful: the forward's multiply-adds (a valid convolution's dx GEMM also runs the
        # taps that fall outside dy, which load_b returns as 0)
        return Dispatch("conv2d_backward_input", self.name, wgs, 2 * y * w // self.out_c, 2 * fma, F32 * (y + w + x), F32 * tile_loads(m, n, k, frac))

    def backward_weights(self, b):
        """The split-K GEMM writing partial sums, then split_sum adding them up."""
        x, w, y = self.lens(b)
        m, n, k = self.out_c, self.in_c * self.k * self.k, b * self.out_h * self.out_w
        chunk = conv_gemm(m, n, k, True)
        splits = cdiv(k, chunk)
        wgs, fma = gemm_issued(m, n, k, chunk)
        gemm = Dispatch(
            "conv2d_backward_weights",
            self.name,
            wgs,
            2 * m * n * k,
            2 * fma,
            F32 * (x + y + splits * w),
            F32 * tile_loads(m, n, k, self.fwd_fraction()),
            note=f"{splits} splits",
        )
        ssum = elementwise("split_sum", self.name, w, splits * w, F32 * (splits * w + w))
        return [gemm, ssum]

    def backward_bias(self, b):
        y = self.lens(b)[2]
        return Dispatch("channel_sum", self.name, self.out_c, y, y, F32 * (y + self.out_c))


class Dense:
    def __init__(self, name, in_f, out_f):
        self.name, self.in_f, self.out_f, self.relu = name, in_f, out_f, False

    def output(self):
        return (self.out_f, 1, 1)

    def tensors(self):
        return [self.out_f * self.in_f, self.out_f]

    def matmul(self, m, n, k, nbytes, what):
        wgs, fma = gemm_issued(m, n, k, k)  # matmul.wgsl: no split-K (k_chunk = k)
        return Dispatch("matmul", f"{self.name} {what}", wgs, 2 * m * n * k, 2 * fma, nbytes, F32 * tile_loads(m, n, k))

    def forward(self, b):
        i, o = self.in_f, self.out_f
        return self.matmul(b, o, i, F32 * (b * i + o * i + o + b * o), "y")

    def backward_weights(self, b):
        i, o = self.in_f, self.out_f
        return self.matmul(o, i, b, F32 * (b * o + b * i + o * i), "dW")

    def backward_input(self, b):
        i, o = self.in_f, self.out_f
        return self.matmul(b, i, o, F32 * (b * o + o * i + b * i), "dX")

    def backward_bias(self, b):
        n = b * self.out_f
        return Dispatch("channel_sum", self.name, self.out_f, n, n, F32 * (n + self.out_f))


class Pool:
    def __init__(self, dims):
        self.c, self.h, self.w = dims

    def output(self):
        return (self.c, self.h // 2, self.w // 2)

    def lens(self, b):
        return b * self.c * self.h * self.w, b * self.c * (self.h // 2) * (self.w // 2)

    def forward(self, b):
        x, y = self.lens(b)
        # reads the input, writes the output and the u32 argmax the backward pass routes by
        return elementwise("maxpool_forward", "pool", y, 3 * y, F32 * (x + 2 * y))

    def backward(self, b):
        x, y = self.lens(b)
        # one thread per input element: reads its window's argmax (and dy if it won), writes dx
        return elementwise("maxpool_backward", "pool", x, x, F32 * (2 * y + x))


class Relu:
    def __init__(self, dims):
        self.n = dims[0] * dims[1] * dims[2]

    def output(self):
        return None

    def forward(self, b):
        n = b * self.n
        return elementwise("relu_forward", "relu", n, n, F32 * 2 * n)


class Normalize:
    def __init__(self, dims):
        self.n = dims[0] * dims[1] * dims[2]

    def forward(self, b):
        n = b * self.n
        return elementwise("normalize_forward", "input", n, 2 * n, F32 * 2 * n)


def relu_backward(n, layer):
    return elementwise("relu_backward", layer, n, n, F32 * 3 * n)


def plan(spec):
    """src/model/plan.rs: shapes, ReLU fused into a directly preceding conv or dense."""
    layers, dims = [], (1, 28, 28)
    convs = denses = 0
    dense_total = sum(1 for l in spec if l[0] == "dense")
    for l in spec:
        kind = l[0]
        if kind == "flatten":
            dims = (dims[0] * dims[1] * dims[2], 1, 1)
            continue
        if kind == "relu":
            if layers and isinstance(layers[-1], (Conv, Dense)) and not layers[-1].relu:
                layers[-1].relu = True
            else:
                layers.append(Relu(dims))
            continue
        if kind == "normalize":
            layers.append(Normalize(dims))
            continue
        if kind == "conv":
            convs += 1
            layer = Conv(f"conv{convs}", dims, *l[1:])
        elif kind == "pool":
            layer = Pool(dims)
        else:
            denses += 1
            layer = Dense("fc" if dense_total == 1 else f"fc{denses}", dims[0] * dims[1] * dims[2], l[1])
        dims = layer.output()
        layers.append(layer)
    return layers


def param_words(layers, align):
    """src/model/mod.rs layout: each trainable tensor starts at a multiple of `align` words."""
    end = 0
    for l in layers:
        for n in l.tensors() if hasattr(l, "tensors") else []:
            end = cdiv(end, align) * align + n
    return end


def train_step(spec, b, align):
    """The dispatches of one training step, in recording order, and the parameter count."""
    layers = plan(spec)
    out = []
    # train/mod.rs: gather the batch from the resident u8 images, advance the cursor.
    px = 784
    out.append(elementwise("gather_batch", "data", b * px, 2 * b * px, b * px + F32 * (b + b + b * px + b), note="u8 images"))
    out.append(Dispatch("advance_cursor", "data", 1, 1, 1, 2 * F32))
    # graph.rs forward
    for l in layers:
        out.append(l.forward(b))
    # loss: softmax cross-entropy (one thread per row), then the metric sums
    n = b * CLASSES
    out.append(elementwise("softmax_xent", "loss", b, 10 * n, F32 * (n + b + n + 2 * b)))
    out.append(Dispatch("accumulate_metrics", "loss", 1, 2 * b, 2 * b, F32 * (2 * b + 6)))
    # backward_pass: last layer first. plan.rs input_gradient_needed: an input gradient
    # is computed only when a layer before has parameters. (The committed rule was
    # `i > 0`, which would also compute it for a conv behind a Normalize: `skipped`.)
    skipped = None
    for i in range(len(layers) - 1, -1, -1):
        l = layers[i]
        need_dx = any(isinstance(p, (Conv, Dense)) for p in layers[:i])
        if isinstance(l, (Conv, Dense)):
            if l.relu:
                out.append(relu_backward(b * l.output()[0] * l.output()[1] * l.output()[2], l.name + " mask"))
            gw = l.backward_weights(b)
            out.extend(gw if isinstance(gw, list) else [gw])
            out.append(l.backward_bias(b))
            if need_dx:
                out.append(l.backward_input(b))
            elif i > 0:
                skipped = l.backward_input(b)
                skipped.note = f"M = {l.in_c} input channel in a {BM}-row tile"
        elif isinstance(l, Relu) and need_dx:
            out.append(relu_backward(b * l.n, "relu"))
        elif isinstance(l, Pool) and need_dx:
            out.append(l.backward(b))
    # optim.rs: advance the step counter, then Adam over the whole flat buffer (padding included)
    p = param_words(layers, align)
    out.append(Dispatch("begin_step", "adam", 1, 1, 1, 2 * F32))
    out.append(elementwise("adam", "adam", p, 20 * p, F32 * 7 * p, note=f"{p} words"))
    return out, p, skipped


# ---- printing -----------------------------------------------------------------------


def fmt(v, digits=2):
    if v == 0:
        return "0"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.{digits}f}"


def table(name, b, launch_us, browser_us, align):
    spec = NETS[name]
    ds, params, skipped = train_step(spec, b, align)
    useful_img = sum(d.useful for d in ds if d.entry.startswith(("conv2d", "matmul"))) / b
    print(f"### `{name}`, batch {b}\n")
    print(f"{len(ds)} dispatches per step; {params:,} parameter words; {useful_img / 1e6:.1f} MFLOP of useful conv/matmul work per image.\n")
    heads = ["#", "kernel", "layer", "WGs", "MFLOP useful", "MFLOP issued", "MB", "FLOP/B", "loads MB"]
    heads += [f"µs {g[0]}" for g in GPUS] + ["bound " + "/".join(g[0] for g in GPUS)]
    print("| " + " | ".join(heads) + " |")
    print("|" + "|".join("---" if i < 3 else "--:" for i in range(len(heads) - 1)) + "|:-:|")
    sums = [0.0] * len(GPUS)
    for i, d in enumerate(ds, 1):
        t = d.times()
        bound = "/".join("L" if s * 1e6 < launch_us else c for s, c in t)
        for j, (s, _) in enumerate(t):
            sums[j] += s
        label = d.layer + (f" ({d.note})" if d.note else "")
        cells = [
            str(i),
            f"`{d.entry}`",
            label,
            f"{d.workgroups:,}",
            fmt(d.useful / 1e6),
            fmt(d.issued / 1e6),
            fmt(d.bytes / 1e6, 3),
            fmt(d.issued / d.bytes, 1),
            fmt(d.loads / 1e6) if d.loads is not None else "-",
        ]
        cells += [fmt(s * 1e6, 1) for s, _ in t] + [bound]
        print("| " + " | ".join(cells) + " |")
    f_use, f_iss, nb = sum(d.useful for d in ds), sum(d.issued for d in ds), sum(d.bytes for d in ds)
    cells = ["", "**total**", f"{len(ds)} dispatches", "", fmt(f_use / 1e6), fmt(f_iss / 1e6), fmt(nb / 1e6, 3), fmt(f_iss / nb, 1), ""]
    cells += [f"**{fmt(s * 1e6, 1)}**" for s in sums] + [""]
    print("| " + " | ".join(cells) + " |\n")

    n = len(ds)
    launch = n * launch_us
    print(f"- Step at roofline: {' / '.join(f'{s * 1e6:.0f}' for s in sums)} µs ({'/'.join(g[0] for g in GPUS)}); "
          f"launch overhead {n} × {launch_us:g} µs = {launch:.0f} µs natively, {n} × {browser_us:g} µs = {n * browser_us:.0f} µs in a browser.")
    launch_bound = [sum(1 for d in ds if d.times()[j][0] * 1e6 < launch_us) for j in range(len(GPUS))]
    print(f"- Launch-bound dispatches (roofline < {launch_us:g} µs): {' / '.join(map(str, launch_bound))} of {n}.")
    print(f"- Images/s at roofline: {' / '.join(f'{b / s:,.0f}' for s in sums)}; "
          f"with {launch_us:g} µs added per dispatch: {' / '.join(f'{b / (s + launch * 1e-6):,.0f}' for s in sums)}; "
          f"with {browser_us:g} µs: {' / '.join(f'{b / (s + n * browser_us * 1e-6):,.0f}' for s in sums)}.")
    def step_s(batch, j):
        return sum(d.times()[j][0] for d in train_step(spec, batch, align)[0])

    # The roofline step grows linearly with the batch (Adam's part is fixed): where it
    # equals the summed launch overhead.
    even = []
    for overhead in (launch_us, browser_us):
        row = []
        for j in range(len(GPUS)):
            t1, t2 = step_s(b, j), step_s(2 * b, j)
            slope, fixed = (t2 - t1) / b, 2 * t1 - t2
            row.append(f"{max(0.0, (n * overhead * 1e-6 - fixed) / slope):.0f}")
        even.append(" / ".join(row))
    print(f"- The roofline step equals the summed launch overhead at batch ≈ {even[0]} ({launch_us:g} µs) or {even[1]} ({browser_us:g} µs); below that a step is launch-dominated.")
    top = sorted(ds, key=lambda d: -d.times()[0][0])[:4]
    print("- Largest on the iGPU: " + ", ".join(f"`{d.entry}` {d.layer} {d.times()[0][0] * 1e6:.0f} µs ({d.times()[0][0] / sums[0]:.0%})" for d in top) + ".")
    if skipped is not None:
        t = skipped.times()
        print(f"- Not computed: {skipped.layer}'s input gradient (`plan::input_gradient_needed`: no layer with parameters before it; "
              f"the committed rule `i > 0` would run it behind Normalize): one `conv2d_backward_input` of {skipped.workgroups:,} workgroups, "
              f"{skipped.issued / 1e6:,.0f} MFLOP issued for {skipped.useful / 1e6:.0f} useful ({skipped.note}), "
              f"{skipped.bytes / 1e6:.1f} MB, {' / '.join(f'{s * 1e6:.0f}' for s, _ in t)} µs: the step would be "
              f"{' / '.join(f'{(s + w) / s:.1f}x' for s, (w, _) in zip(sums, t))} as long "
              f"({' / '.join(f'{b / (s + w):,.0f}' for s, (w, _) in zip(sums, t))} img/s at roofline).")
    print()


# Per-kernel times of one pytorch-cnn step at batch 64 on lavapipe (docs/benchmarks.md,
# "Native: wgpu on lavapipe", each dispatch alone), for the five convolution GEMMs.
LAVAPIPE_MS = {3: 59.02, 5: 142.55, 15: 150.83, 18: 297.80, 21: 84.16}


def lavapipe_check():
    """Does the issued count predict measured time better than the useful count? On a
    compute-bound adapter (lavapipe runs the shaders on the CPU) time per issued FLOP
    should be flat across kernels."""
    ds = train_step(NETS["pytorch-cnn"], 64, 64)[0]
    print("### Check: lavapipe, `pytorch-cnn` batch 64 (measured ms from docs/benchmarks.md)\n")
    print("| # | kernel | layer | ms measured | MFLOP useful | MFLOP issued | ms per 100 useful MFLOP | ms per 100 issued MFLOP |")
    print("|---|---|---|--:|--:|--:|--:|--:|")
    for i, ms in LAVAPIPE_MS.items():
        d = ds[i - 1]
        print(f"| {i} | `{d.entry}` | {d.layer} | {ms:.1f} | {d.useful / 1e6:.0f} | {d.issued / 1e6:.0f} | {ms / d.useful * 1e8:.0f} | {ms / d.issued * 1e8:.0f} |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--launch-us", type=float, default=5.0, help="assumed per-dispatch overhead natively (µs)")
    ap.add_argument("--browser-us", type=float, default=25.0, help="assumed per-dispatch overhead in a browser (µs)")
    ap.add_argument("--align-words", type=int, default=64, help="min_storage_buffer_offset_alignment / 4 (WebGPU's default 256 bytes)")
    a = ap.parse_args()
    print("GPU classes: " + "; ".join(f"{g[0]} {g[1] / 1e12:g} TFLOP/s, {g[2] / 1e9:g} GB/s (ridge {g[1] / g[2]:.0f} FLOP/B)" for g in GPUS) + ".\n")
    print(f"Bound: C compute, M memory, L launch (roofline time below {a.launch_us:g} µs per dispatch).\n")
    for name, b in [("pytorch-cnn", 200), ("pytorch-cnn", 64), ("fast", 256)]:
        table(name, b, a.launch_us, a.browser_us, a.align_words)
    lavapipe_check()


if __name__ == "__main__":
    main()
