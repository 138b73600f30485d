#!/usr/bin/env bash
# Batch invariance of a whole explain run (issue #10 part 3), through the CLI as a user runs
# it: `sharedvis explain` with the bundled model (weights/) on the first 200 Fashion-MNIST
# test images (flat black backgrounds: exact ties in every max-pool window) with
# --max-batch 64 --feature-batch 256, then with
# --max-batch 1 --feature-batch 1. results.json must agree once timings, the batch and
# thread choices and the count of forward passes they led to are removed; every other file
# (maps as .npy, readouts, PNG overlays, figures) byte for byte; index.html (which shows the
# choices and timings) is left out. The same comparison as tests/test_batch_invariance.cpp's
# ExplainMapsAndNumbers, for the GPU path: bench/gpu_check.sh runs it with --device cuda and
# SHAREDVIS_CUDA_DETERMINISTIC=1.
#
#   bench/explain_batch_invariance.sh SHAREDVIS DEVICE DATA_DIR WORK_DIR
#
# Exit 0 when identical, 1 when not (the differences are printed), 2 on a failed run.
set -uo pipefail
sv=${1:?usage: explain_batch_invariance.sh SHAREDVIS DEVICE DATA_DIR WORK_DIR}
device=${2:?device}
data=${3:?Fashion-MNIST folder}
work=${4:?work folder}
model="$(cd "$(dirname "$0")/.." && pwd)/weights/fmnist_cnn.safetensors"
mkdir -p "$work" || exit 2
for run in "64 256" "1 1"; do
  set -- $run
  out="$work/explain_mb$1"
  rm -rf "$out"
  if ! timeout 300 "$sv" explain --device "$device" --model "$model" --dataset fashion-mnist --data-dir "$data" --limit 200 \
      --synthetic Bag,Sandal --top-ooc 2 --max-batch "$1" --feature-batch "$2" --no-progress --out "$out" \
      > "$work/explain_mb$1.log" 2>&1; then
    echo "explain_batch_invariance: explain --max-batch $1 failed:"
    tail -5 "$work/explain_mb$1.log"
    exit 2
  fi
done
python3 - "$work/explain_mb64" "$work/explain_mb1" <<'PY'
import json, os, sys
a, b = sys.argv[1], sys.argv[2]

def results(d):
    with open(os.path.join(d, "results.json")) as f:
        j = json.load(f)
    j.pop("timing_seconds", None)
    j.get("inputs", {}).get("backprop", {}).pop("forward_batches", None)
    for k in ("max_batch", "feature_batch", "threads"):
        j.get("choices", {}).pop(k, None)
    return j

def diff(x, y, path=""):
    if type(x) is not type(y):
        return [path or "/"]
    if isinstance(x, dict):
        out = [f"{path}/{k}" for k in sorted(set(x) ^ set(y))]
        for k in sorted(set(x) & set(y)):
            out += diff(x[k], y[k], f"{path}/{k}")
        return out
    if isinstance(x, list):
        if len(x) != len(y):
            return [f"{path} (length {len(x)} vs {len(y)})"]
        out = []
        for i, (u, v) in enumerate(zip(x, y)):
            out += diff(u, v, f"{path}/{i}")
        return out
    return [] if x == y else [path or "/"]

bad = diff(results(a), results(b))
for p in bad[:10]:
    print(f"results.json differs at {p}")
files = 0
for root, _, names in os.walk(a):
    for n in names:
        rel = os.path.relpath(os.path.join(root, n), a)
        if rel in ("results.json", "index.html"):
            continue
        other = os.path.join(b, rel)
        if not os.path.exists(other):
            print(f"{rel}: missing in the --max-batch 1 run")
            bad.append(rel)
            continue
        with open(os.path.join(a, rel), "rb") as f, open(other, "rb") as g:
            if f.read() != g.read():
                print(f"{rel} differs")
                bad.append(rel)
        files += rel.endswith(".npy")
print(f"explain --max-batch 64 vs 1: {files} maps (.npy) compared, {len(bad)} differences")
sys.exit(1 if bad or files <= 4 else 0)
PY
