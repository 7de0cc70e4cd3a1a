#!/usr/bin/env python3
"""Loads a shadergan checkpoint's generator into PyTorch and compares it with
`shadergan sample` on the same latents.

    python3 scripts/pytorch_check.py CHECKPOINT [--shadergan target/release/shadergan] [--n 64]

Needs torch, numpy and safetensors. Both networks are rebuilt as
nn.Sequential from the layers in the checkpoint's metadata (Linear,
Conv2d, ConvTranspose2d, BatchNorm1d/2d, the activations) and loaded with
load_state_dict(strict=True); the generator's outputs are compared (a
convolutional generator takes its input as [n, inputs, 1, 1]; a
conditional one the noise and the label's one-hot code, class i mod k in
row i). Exits 1 if they differ by more than 1e-5 of the largest output.
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
    """nn.Sequential from shadergan's layer list (config.json). Batch norm
    is BatchNorm2d in a convolutional net, BatchNorm1d in a dense one."""
    conv = any(l["layer"] in ("conv2d", "conv_transpose2d") for l in layers)
    mods = []
    for l in layers:
        kind = l["layer"]
        if kind == "linear":
            mods.append(torch.nn.Linear(l["inputs"], l["outputs"]))
        elif kind == "conv2d":
            mods.append(torch.nn.Conv2d(l["inputs"], l["outputs"], l["kernel"], l["stride"],
                                        l["padding"], bias=l["bias"]))
        elif kind == "conv_transpose2d":
            mods.append(torch.nn.ConvTranspose2d(l["inputs"], l["outputs"], l["kernel"],
                                                 l["stride"], l["padding"], bias=l["bias"]))
        elif kind == "batch_norm":
            norm = torch.nn.BatchNorm2d if conv else torch.nn.BatchNorm1d
            mods.append(norm(l["features"]))
        elif kind == "leaky_relu":
            mods.append(torch.nn.LeakyReLU(l["slope"]))
        elif kind == "relu":
            mods.append(torch.nn.ReLU())
        elif kind == "tanh":
            mods.append(torch.nn.Tanh())
        elif kind == "sigmoid":
            mods.append(torch.nn.Sigmoid())
        else:
            sys.exit(f"unknown layer {kind}")
    return torch.nn.Sequential(*mods), conv


def net(state, prefix, layers):
    """The net of `layers` with the checkpoint's `prefix.*` tensors, loaded
    with strict=True (any missing or extra key raises)."""
    part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    m, conv = build(layers)
    m.load_state_dict(part, strict=True)
    return m.eval(), conv, len(part)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--shadergan", default="target/release/shadergan")
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()

    with safe_open(args.checkpoint, "pt") as f:
        config = json.loads(f.metadata()["shadergan"])["config"]
    state = load_file(args.checkpoint)
    g, conv, n_tensors = net(state, "generator.", config["generator"])
    d, _, d_tensors = net(state, "discriminator.", config["discriminator"])

    rng = np.random.default_rng(0)
    z = rng.standard_normal((args.n, config["latent"])).astype(np.float32)
    with tempfile.TemporaryDirectory() as d_:
        zp, op = os.path.join(d_, "z.npy"), os.path.join(d_, "out.npy")
        np.save(zp, z)
        subprocess.run([args.shadergan, "sample", "--checkpoint", args.checkpoint,
                        "--latents", zp, "--npy", op], check=True)
        ours = np.load(op)
    # A conditional generator's input: the noise, then the one-hot label of
    # class i mod k in row i (as `shadergan sample` draws them).
    k = config.get("classes", 0)
    inputs = torch.from_numpy(z)
    if k:
        labels = torch.arange(args.n) % k
        inputs = torch.cat([inputs, torch.nn.functional.one_hot(labels, k).float()], 1)
    if conv:
        inputs = inputs.view(args.n, -1, 1, 1)
    with torch.no_grad():
        theirs = g(inputs).reshape(args.n, -1).numpy()
    err = np.abs(ours - theirs)
    print(f"loaded into PyTorch {torch.__version__} with strict=True: generator {n_tensors} "
          f"tensors, discriminator {d_tensors}")
    print(f"{args.n} samples of {theirs.shape[1]} values; max |shadergan - PyTorch| = {err.max():.3e}, "
          f"mean {err.mean():.3e}; output range [{theirs.min():.3f}, {theirs.max():.3f}]")
    rel = err.max() / max(np.abs(theirs).max(), 1e-30)
    print(f"max difference relative to the largest output: {rel:.3e}")
    sys.exit(0 if rel < 1e-5 else 1)


if __name__ == "__main__":
    main()
