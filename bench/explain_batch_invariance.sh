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
python3 "$(dirname "$0")/../tests/compare_outputs.py" "$work/explain_mb64" "$work/explain_mb1" --ignore-batching --min-files 5
