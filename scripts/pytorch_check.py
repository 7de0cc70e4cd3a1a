#!/usr/bin/env python3
"""Loads a shadergan checkpoint's generator into PyTorch and compares it with
`shadergan sample` on the same latents.

    python3 scripts/pytorch_check.py CHECKPOINT [--shadergan target/release/shadergan] [--n 64]

Needs torch, numpy and safetensors. The generator is rebuilt as the
nn.Sequential of docs/design.md (the reference workload) (from the layers in the checkpoint's
metadata) and loaded with load_state_dict(strict=True).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file


def build(layers):
    """nn.Sequential from shadergan's layer list (config.json)."""
    mods = []
    for l in layers:
        kind = l["layer"]
        if kind == "linear":
            mods.append(torch.nn.Linear(l["inputs"], l["outputs"]))
        elif kind == "batch_norm":
            mods.append(torch.nn.BatchNorm1d(l["features"]))
        elif kind == "leaky_relu":
            mods.append(torch.nn.LeakyReLU(l["slope"]))
        elif kind == "tanh":
            mods.append(torch.nn.Tanh())
        elif kind == "sigmoid":
            mods.append(torch.nn.Sigmoid())
        else:
            sys.exit(f"unknown layer {kind}")
    return torch.nn.Sequential(*mods)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--shadergan", default="target/release/shadergan")
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()

    with safe_open(args.checkpoint, "pt") as f:
        config = json.loads(f.metadata()["shadergan"])["config"]
    state = load_file(args.checkpoint)
    prefix = "generator."
    g_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    g = build(config["generator"])
    g.load_state_dict(g_state, strict=True)  # raises on any missing or extra key
    g.eval()

    rng = np.random.default_rng(0)
    z = rng.standard_normal((args.n, config["latent"])).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        zp, op = os.path.join(d, "z.npy"), os.path.join(d, "out.npy")
        np.save(zp, z)
        subprocess.run([args.shadergan, "sample", "--checkpoint", args.checkpoint,
                        "--latents", zp, "--npy", op], check=True)
        ours = np.load(op)
    with torch.no_grad():
        theirs = g(torch.from_numpy(z)).numpy()
    err = np.abs(ours - theirs)
    print(f"generator loaded into PyTorch {torch.__version__} with strict=True: {len(g_state)} tensors")
    print(f"{args.n} samples of {theirs.shape[1]} values; max |shadergan - PyTorch| = {err.max():.3e}, "
          f"mean {err.mean():.3e}; output range [{theirs.min():.3f}, {theirs.max():.3f}]")
    sys.exit(0 if err.max() < 1e-4 else 1)


if __name__ == "__main__":
    main()
