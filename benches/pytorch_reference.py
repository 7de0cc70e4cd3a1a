#!/usr/bin/env python3
"""The reference MLP GAN step (docs/design.md, the reference workload) in PyTorch, timed the way
`shadergan bench` times its own step, printing the same step table.

    python3 benches/pytorch_reference.py [--batch 64,256] [--device cpu|cuda] [--fused] [--steps 20] [--repeats 5]

One step, in the order of docs/design.md (a training step): fresh z, G forward (no
grad), D on real and fake, BCE with logits, D backward, Adam on D; fresh
z, G forward, D forward (D's parameters frozen, so no D weight gradients),
BCE against label 1, G backward, Adam on G. Real batches are random indices
into 10,000 random 28x28 images on the device (the data loading is not
what is timed). GFLOP/s = 18,737,152 x batch x steps/s (docs/benchmarks.md).
"""
import argparse
import platform
import time

import torch
import torch.nn as nn

FLOP_PER_SAMPLE = 18_737_152


def make(device):
    g = nn.Sequential(
        nn.Linear(100, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
        nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2),
        nn.Linear(1024, 784), nn.Tanh()).to(device)
    d = nn.Sequential(
        nn.Linear(784, 512), nn.LeakyReLU(0.2),
        nn.Linear(512, 256), nn.LeakyReLU(0.2),
        nn.Linear(256, 1)).to(device)
    return g, d


def time_batch(batch, device, fused, steps, repeats):
    torch.manual_seed(0)
    g, d = make(device)
    kw = dict(lr=2e-4, betas=(0.5, 0.999))
    if fused:
        kw["fused"] = True
    opt_g = torch.optim.Adam(g.parameters(), **kw)
    opt_d = torch.optim.Adam(d.parameters(), **kw)
    bce = nn.BCEWithLogitsLoss()
    data = torch.rand(10_000, 784, device=device) * 2 - 1
    ones = torch.ones(batch, 1, device=device)
    labels = torch.cat([ones, torch.zeros(batch, 1, device=device)])

    def step():
        real = data[torch.randint(0, 10_000, (batch,), device=device)]
        with torch.no_grad():
            fake = g(torch.randn(batch, 100, device=device))
        opt_d.zero_grad(set_to_none=True)
        d_loss = bce(d(torch.cat([real, fake])), labels)
        d_loss.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        g_loss = bce(d(g(torch.randn(batch, 100, device=device))), ones)
        g_loss.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(5):
        step()
    sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        samples.append((time.perf_counter() - start) * 1e3 / steps)
    samples.sort()
    return samples[len(samples) // 2], samples[0], samples[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", default="64,256")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--fused", action="store_true", help="fused Adam")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.device == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    label = f"PyTorch {torch.__version__} {args.device}{' fused Adam' if args.fused else ''}"
    print(f"device: {name}")
    print(f"{'training step (reference GAN)':<40} {'batch':>6} {'ms/step':>10} {'min..max':>17} {'steps/s':>9} {'GFLOP/s':>9}")
    for b in [int(x) for x in args.batch.split(",")]:
        ms, lo, hi = time_batch(b, args.device, args.fused, args.steps, args.repeats)
        print(f"{label:<40} {b:>6} {ms:>10.2f} {lo:>8.2f}..{hi:<8.2f} {1e3 / ms:>9.2f} {FLOP_PER_SAMPLE * b / ms / 1e6:>9.2f}")


if __name__ == "__main__":
    main()
