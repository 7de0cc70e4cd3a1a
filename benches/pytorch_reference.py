#!/usr/bin/env python3
"""The reference MLP GAN step (docs/design.md, the reference workload) in PyTorch, timed the way
`shadergan bench` times its own step, printing the same step table.

    python3 benches/pytorch_reference.py [--arch mlp|dcgan] [--width 32] [--batch 64,256] [--device cpu|cuda] [--fused] [--graphs] [--steps 20] [--repeats 5] [--json]

One step, in the order of docs/design.md (a training step): fresh z, G forward (no
grad), D on real and fake, BCE with logits, D backward, Adam on D; fresh
z, G forward, D forward (D's parameters frozen, so no D weight gradients),
BCE against label 1, G backward, Adam on G. Real batches are random indices
into 10,000 random 28x28 images on the device (the data loading is not
what is timed). GFLOP/s = FLOP per sample x batch x steps/s (docs/benchmarks.md:
18,737,152 for the MLP, 83,693,568 for the DCGAN at w = 32). With --arch dcgan,
the 28x28 DCGAN of src/gan/presets.rs; D is called on the real and the fake
batch apart, as DCGAN trains (batch norm sees each on its own). With
--graphs (CUDA only) the whole step is captured once as a CUDA graph and
replayed (torch.cuda.graphs, Adam with capturable=True): PyTorch without
its per-kernel launch cost. --json prints one JSON object per batch.
"""
import argparse
import json
import platform
import time

import torch
import torch.nn as nn

# FLOP per sample of one step (docs/benchmarks.md; `step_flop_per_sample`
# in src/bench.rs counts the same): 2·(4·S_G − S_G1 + 8·S_D − 2·S_D1) with
# S a net's forward multiply-adds and S1 its first layer's.
def flop_per_sample(arch, w):
    if arch == "mlp":
        return 18_737_152
    g = [100 * 4 * w * 49, 49 * 4 * w * 2 * w * 16, 196 * 2 * w * 16]
    d = [196 * w * 16, 49 * 2 * w * w * 16, 2 * w * 49]
    return 2 * (4 * sum(g) - g[0] + 8 * sum(d) - 2 * d[0])


def make(device, arch, width):
    if arch == "dcgan":
        # The 28x28 DCGAN of src/gan/presets.rs at base width w, DCGAN's
        # initialisation.
        w = width
        g = nn.Sequential(
            nn.ConvTranspose2d(100, 4 * w, 7, 1, 0, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, 1, 4, 2, 1, bias=False), nn.Tanh()).to(device)
        d = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 1, 7, 1, 0, bias=False)).to(device)
        for m in list(g.modules()) + list(d.modules()):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        return g, d, (100, 1, 1), (1, 28, 28)
    g = nn.Sequential(
        nn.Linear(100, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
        nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2),
        nn.Linear(1024, 784), nn.Tanh()).to(device)
    d = nn.Sequential(
        nn.Linear(784, 512), nn.LeakyReLU(0.2),
        nn.Linear(512, 256), nn.LeakyReLU(0.2),
        nn.Linear(256, 1)).to(device)
    return g, d, (100,), (784,)


def time_batch(batch, device, fused, steps, repeats, arch="mlp", width=32, graphs=False):
    torch.manual_seed(0)
    g, d, z_shape, x_shape = make(device, arch, width)
    kw = dict(lr=2e-4, betas=(0.5, 0.999))
    if fused:
        kw["fused"] = True
    if graphs:
        kw["capturable"] = True
    opt_g = torch.optim.Adam(g.parameters(), **kw)
    opt_d = torch.optim.Adam(d.parameters(), **kw)
    bce = nn.BCEWithLogitsLoss()
    data = torch.rand(10_000, *x_shape, device=device) * 2 - 1
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)

    def step():
        real = data[torch.randint(0, 10_000, (batch,), device=device)]
        with torch.no_grad():
            fake = g(torch.randn(batch, *z_shape, device=device))
        opt_d.zero_grad(set_to_none=True)
        # Two calls, as DCGAN trains: batch norm sees each batch on its own.
        d_loss = bce(d(real).view(-1, 1), ones) + bce(d(fake).view(-1, 1), zeros)
        d_loss.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        g_loss = bce(d(g(torch.randn(batch, *z_shape, device=device))).view(-1, 1), ones)
        g_loss.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    run = step
    if graphs:
        # Warm up on a side stream, then capture one whole step (the
        # pattern of torch.cuda.graphs' "whole network capture"); the random
        # draws inside are graph-safe, so each replay draws afresh.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(side)
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        run = graph.replay
    for _ in range(5):
        run()
    sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            run()
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
    ap.add_argument("--arch", default="mlp", choices=["mlp", "dcgan"])
    ap.add_argument("--width", type=int, default=32, help="the DCGAN's base width")
    ap.add_argument("--graphs", action="store_true", help="replay the step as a CUDA graph")
    ap.add_argument("--json", action="store_true", help="one JSON object per batch")
    args = ap.parse_args()
    if args.graphs and args.device != "cuda":
        ap.error("--graphs needs --device cuda")
    if args.device == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    how = (" fused Adam" if args.fused else "") + (" CUDA graph" if args.graphs else "")
    label = f"PyTorch {torch.__version__} {args.device}{how}"
    model = "reference MLP" if args.arch == "mlp" else f"DCGAN 28x28 w={args.width}"
    flop = flop_per_sample(args.arch, args.width)
    if not args.json:
        print(f"device: {name}")
        print(f"{'training step':<40} {'model':<20} {'batch':>6} {'ms/step':>10} {'min..max':>17} {'steps/s':>9} {'GFLOP/s':>9}")
    for b in [int(x) for x in args.batch.split(",")]:
        ms, lo, hi = time_batch(b, args.device, args.fused, args.steps, args.repeats, args.arch, args.width, args.graphs)
        if args.json:
            print(json.dumps(dict(device=name, label=label, model=model, batch=b, ms=ms, ms_min=lo, ms_max=hi,
                                  steps_per_s=1e3 / ms, gflops=flop * b / ms / 1e6)), flush=True)
        else:
            print(f"{label:<40} {model:<20} {b:>6} {ms:>10.2f} {lo:>8.2f}..{hi:<8.2f} {1e3 / ms:>9.2f} {flop * b / ms / 1e6:>9.2f}")


if __name__ == "__main__":
    main()
