#!/usr/bin/env python3
"""Writes tests/data/pytorch-schedules.json: PyTorch's own learning rates, step by step,
for the schedules wgpu-mnist implements (checked by tests/schedules.rs).

    /work/torchvenv/bin/python scripts/pytorch-schedules.py
"""
import json
import torch

def rates(make, steps, lr):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=lr, betas=(0.7, 0.9))
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out

cases = []
# The fast preset: one epoch of 60,000 images at batch 256 (234 whole batches), and a
# short run where the warm-up is under two steps.
for total in (234, 5):
    cases.append({"schedule": "one-cycle", "lr": 0.01, "steps_per_epoch": total, "epochs": 1,
                  "rates": rates(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.01, total_steps=total, cycle_momentum=False), total, 0.01)})
# StepLR stepped per epoch (gamma 0.7, PyTorch's MNIST example), 3 epochs of 7 steps.
def step_lr(steps_per_epoch, epochs, lr):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    out = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
        sched.step()
    return out
cases.append({"schedule": "step", "lr": 1.0, "steps_per_epoch": 7, "epochs": 3, "rates": step_lr(7, 3, 1.0)})
with open("tests/data/pytorch-schedules.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", len(cases), "cases")
