#!/usr/bin/env bash
# shadergan beside PyTorch-CUDA on one GPU machine, in one run of a few
# minutes: `shadergan bench --json` (the adapter's ceilings, every kernel
# with 4096³ and the convolutions, the MLP and DCGAN steps at B = 64 and
# 256), then benches/pytorch_reference.py on CUDA for the same steps, eager
# and replayed as a CUDA graph, and one side-by-side table.
#
#   scripts/gpu-bench.sh [BINARY] [REPORT]
#
# BINARY: a release build of shadergan made elsewhere (default
# target/release/shadergan): the GPU machine needs no Rust toolchain.
# Strip it to carry it (`strip -o .dev/shadergan target/release/shadergan`
# makes it a few MB). REPORT: where the table and both raw outputs go
# (default docs/bench-<adapter>.txt). Where the machine has no Vulkan loader,
# unpack one first (libvulkan1; see the device notes of the workplace) and
# point VK_DRIVER_FILES at the vendor's ICD if the loader finds none.
# To try it without a GPU: TORCH_DEVICE=cpu BENCH_ARGS="--quick --batch 4"
# TORCH_ARGS="--batch 4 --steps 2 --repeats 1" (no CUDA graph rows then).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/shadergan}"
report="${2:-}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$tmp/xdg}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

echo "== shadergan bench (Vulkan)" >&2
"$bin" adapters >&2 || true
# shellcheck disable=SC2086
timeout 300 "$bin" bench --json --backend vulkan ${BENCH_ARGS:-} > "$tmp/bench.json"

device="${TORCH_DEVICE:-cuda}"
echo "== PyTorch on $device, eager and CUDA graph" >&2
hows=("")
[ "$device" = cuda ] && hows+=("--graphs")
: > "$tmp/torch.jsonl"
for arch in mlp dcgan; do
    for how in "${hows[@]}"; do
        # shellcheck disable=SC2086
        timeout 120 python3 benches/pytorch_reference.py --device "$device" --arch "$arch" $how ${TORCH_ARGS:-} --json \
            >> "$tmp/torch.jsonl" || echo "pytorch_reference.py --arch $arch $how failed" >&2
    done
done

python3 - "$tmp/bench.json" "$tmp/torch.jsonl" "$report" <<'PY'
import json, re, sys

bench = json.load(open(sys.argv[1]))
bench = bench[0] if isinstance(bench, list) else bench  # one report per adapter
torch = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
report = sys.argv[3] or "docs/bench-%s.txt" % re.sub(r"[^a-z0-9]+", "-", bench["adapter"].lower()).strip("-")

out = []
p = out.append
p(f"adapter: {bench['adapter']} ({bench['backend']}, {bench['device_type']}, driver {bench['driver']})")
p(f"kernel clock: {bench['kernel_clock']}; matmul tile: {bench['matmul_tile']}")
p(f"ceilings: f32 FMA {bench['peak_gflops']:.1f} GFLOP/s, copy {bench['copy_gbps']:.1f} GB/s")
if torch:
    p(f"PyTorch device: {torch[0]['device']}")
p("")
p(f"{'kernel':<44} {'shape':<18} {'ms':>9} {'GFLOP/s':>9} {'GB/s':>8} {'of ceiling':>10}")
for k in bench["kernels"]:
    gf = f"{k['gflops']:.1f}" if k["gflops"] is not None else ""
    gb = f"{k['gbps']:.1f}" if k["gbps"] is not None else ""
    p(f"{k['kernel']:<44} {k['shape']:<18} {k['ms']:>9.4f} {gf:>9} {gb:>8} {100 * k['of_ceiling']:>9.1f}%")
p("")
p(f"{'training step':<22} {'batch':>5} {'dispatches':>10} {'shadergan ms':>13} {'PyTorch eager':>14} {'PyTorch graph':>14} {'vs eager':>9} {'vs graph':>9}")
def torch_ms(model, batch, graph):
    for t in torch:
        if t["model"] == model and t["batch"] == batch and ("CUDA graph" in t["label"]) == graph:
            return t["ms"]
for s in bench["steps"]:
    eager = torch_ms(s["model"], s["batch"], False)
    graph = torch_ms(s["model"], s["batch"], True)
    cell = lambda v: f"{v:.3f}" if v else "-"
    ratio = lambda v: f"{v / s['ms']:.2f}x" if v else "-"
    p(f"{s['model']:<22} {s['batch']:>5} {s['dispatches']:>10} {s['ms']:>13.3f} {cell(eager):>14} {cell(graph):>14} {ratio(eager):>9} {ratio(graph):>9}")
p("")
p("vs eager, vs graph: PyTorch's time over shadergan's (above 1: shadergan is faster).")
p("Each shadergan step is its dispatches in one submission.")
text = "\n".join(out)
print(text)
with open(report, "w") as f:
    f.write(text + "\n\n== shadergan bench --json\n" + json.dumps(bench, indent=1) + "\n\n== PyTorch\n")
    f.writelines(json.dumps(t) + "\n" for t in torch)
print(f"\nwrote {report}", file=sys.stderr)
PY
