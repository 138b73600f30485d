#!/usr/bin/env bash
# The CUDA check, in one command for the GPU machine (x86-64, H100/H200, nvcc + CMake +
# PyTorch present; no GoogleTest, no apt, no internet). It runs binaries built on the
# development machine (sm_90) and carried over as one archive:
#
# Build the carried binaries HERE (repository root, CUDA toolkit with cuDNN 9 and cuBLAS):
#   cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DSHAREDVIS_CUDA=ON -DSHAREDVIS_BENCH=OFF \
#         -DCMAKE_CUDA_ARCHITECTURES=90
#   cmake --build build-gpu -j2 --target sharedvis_tests sharedvis_bench_gpu sharedvis
#   bench/gpu_check.sh pack build-gpu        # -> build-gpu/carry.tar.xz (binaries + their
#                                            #    non-system shared libraries, not CUDA's, and
#                                            #    Fashion-MNIST's test split, 4.4 MB, from
#                                            #    $FASHION_MNIST_DIR or the Debian package's)
# Run it THERE (through the GPU tool: command `bench/gpu_check.sh`, carry
# ["build-gpu/carry.tar.xz"], timeout_s 540):
#   bench/gpu_check.sh                       # or: bench/gpu_check.sh run [ARCHIVE]
#
# What it does: unpacks the archive, finds cuDNN 9 and cuBLAS 13 (the Python env's nvidia
# wheels, torch/lib, /usr/local/cuda) for LD_LIBRARY_PATH, prints nvidia-smi, runs every
# CUDA test (--gtest_filter='Cuda*:Table/BackendOps.*', the op table's CUDA rows too, and
# CudaBatchInvariance.*: deterministic mode bitwise across batch sizes 1, 3, 64), the CLI
# against the CPU, explain's batch invariance in deterministic mode
# (bench/explain_batch_invariance.sh: --max-batch 64 vs 1, identical output), then the GPU
# benchmarks: resnet50 at 224x224, features (layer4) of 64 images, and forward +
# multi-output VJP of the pooled features for 2 images with K = 64 cotangents; sharedvis
# (build/backends/cuda/sharedvis_bench_gpu) vs PyTorch on
# the same GPU (bench/compare_torch_gpu.py: loop over K with retain_graph, and
# is_grads_batched=True). Times, ratios and peak GPU memory go to stdout and, when $OUT is
# set, to $OUT/summary.txt (with the logs and JSON files beside it). Within 8 minutes.
# Targets: sharedvis >= 1.2x faster than PyTorch's faster method, with no more peak memory.
# Environment: SHAREDVIS_CUDA_TF32=0 runs both sides in full float32 (default: TF32
# convolutions on both sides, PyTorch's default). GPU_CHECK_VARIANTS=1 also times the
# bench's option variants (see bench/bench_gpu.cpp); GPU_CHECK_TESTS_ONLY=1 runs the CUDA
# tests and the CLI checks only (about 30 s before the batch-invariance checks were added;
# their time has not been measured).
set -uo pipefail
cd "$(dirname "$0")/.."

pack() {
  local build=${1:?usage: gpu_check.sh pack BUILD_DIR}
  local stage
  stage=$(mktemp -d)
  mkdir -p "$stage/carry/lib" "$stage/carry/fallback"
  local b
  for b in "$build/tests/sharedvis_tests" "$build/backends/cuda/sharedvis_bench_gpu" "$build/sharedvis"; do
    [ -x "$b" ] || { echo "gpu_check pack: $b is missing (build it first, see the top of this script)"; exit 2; }
    cp "$b" "$stage/carry/" || exit 2
  done
  strip --strip-unneeded "$stage/carry/sharedvis_tests" "$stage/carry/sharedvis_bench_gpu" "$stage/carry/sharedvis" ||
    exit 2
  local lib
  for lib in $(ldd "$build/tests/sharedvis_tests" "$build/backends/cuda/sharedvis_bench_gpu" "$build/sharedvis" | awk '/=> \// {print $3}' | sort -u); do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libcuda.so*|libcudnn*|libcublas*|libcudart*|libnvidia*) ;;
      libstdc++.so*|libgcc_s.so*) cp -L "$lib" "$stage/carry/fallback/" ;;  # used only if the system's are older
      *) cp -L "$lib" "$stage/carry/lib/" ;;
    esac
  done
  local fm=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist} f
  for f in t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    [ -f "$fm/$f" ] || { echo "gpu_check pack: $fm/$f is missing (set FASHION_MNIST_DIR)"; exit 2; }
    mkdir -p "$stage/carry/fashion-mnist" && cp "$fm/$f" "$stage/carry/fashion-mnist/" || exit 2
  done
  tar -C "$stage" -cJf "$build/carry.tar.xz" carry || exit 2
  rm -rf "$stage"
  ls -la "$build/carry.tar.xz"
  tar -tJvf "$build/carry.tar.xz"
}

# Directory of the first file named $1 under the candidate roots.
find_lib_dir() {
  local name=$1 root f
  shift
  for root in "$@"; do
    [ -d "$root" ] || continue
    f=$(find -L "$root" -maxdepth 5 -name "$name" -print -quit 2>/dev/null)
    if [ -n "$f" ]; then dirname "$f"; return 0; fi
  done
  return 1
}

run() {
  local archive=${1:-build-gpu/carry.tar.xz}
  local out=${OUT:-}
  local work
  work=$(mktemp -d)
  [ -f "$archive" ] || { echo "gpu_check: no $archive (build and pack it first, see the top of this script)"; exit 2; }
  tar -C "$work" -xJf "$archive" || exit 2
  local bin=$work/carry
  local log=${out:-$work}

  local roots=()
  local pyroots
  pyroots=$(python3 - <<'PY' 2>/dev/null
import importlib, os
for name in ("nvidia", "torch"):
    try:
        m = importlib.import_module(name)
        for p in getattr(m, "__path__", []):
            print(p)
    except Exception:
        pass
PY
)
  while IFS= read -r r; do [ -n "$r" ] && roots+=("$r"); done <<< "$pyroots"
  roots+=(/usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu /usr/local/lib)
  local cudnn_dir cublas_dir
  cudnn_dir=$(find_lib_dir 'libcudnn.so.9' "${roots[@]}") || { echo "gpu_check: cuDNN 9 (libcudnn.so.9) not found in ${roots[*]}"; exit 2; }
  cublas_dir=$(find_lib_dir 'libcublas.so.13' "${roots[@]}") || { echo "gpu_check: cuBLAS 13 (libcublas.so.13) not found in ${roots[*]}"; exit 2; }
  local ldp="$bin/lib:$cudnn_dir:$cublas_dir"
  local sys_cxx
  sys_cxx=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
  if [ -z "$sys_cxx" ] || ! grep -q GLIBCXX_3.4.30 "$sys_cxx" 2>/dev/null; then ldp="$ldp:$bin/fallback"; fi
  export LD_LIBRARY_PATH="$ldp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "== libraries: cuDNN $cudnn_dir, cuBLAS $cublas_dir"
  if ldd "$bin/sharedvis_tests" "$bin/sharedvis_bench_gpu" "$bin/sharedvis" | grep -q 'not found'; then
    ldd "$bin/sharedvis_tests" "$bin/sharedvis_bench_gpu" "$bin/sharedvis" | grep 'not found'
    echo "gpu_check: missing shared libraries"; exit 2
  fi

  echo "== nvidia-smi"
  nvidia-smi 2>&1 | tee "$log/nvidia-smi.txt"

  echo "== CUDA tests"
  local tests_rc
  timeout 240 "$bin/sharedvis_tests" --gtest_filter='Cuda*:Table/BackendOps.*' 2>&1 | tee "$log/tests.log"
  tests_rc=${PIPESTATUS[0]}
  # On the GPU machine a skipped CUDA test is a failure (an old driver, say: see its reason).
  if grep -q '^\[  SKIPPED \]' "$log/tests.log"; then
    echo "gpu_check: CUDA tests were skipped on the GPU machine (reasons above)"
    [ "$tests_rc" = 0 ] && tests_rc=1
  fi

  # The CLI as a user runs it: --device auto must pick the GPU (after its self-check) and
  # agree with --device cpu on the bundled model's features, vjp (K = 4) and IG.
  echo "== CLI: --device auto against --device cpu"
  local cli_rc=0 d
  python3 -c "import numpy as np; r = np.random.default_rng(0)
np.save('$work/x.npy', r.standard_normal((8, 1, 28, 28)).astype(np.float32))
np.save('$work/g.npy', r.standard_normal((4, 8, 128)).astype(np.float32))" || cli_rc=1
  local cmd extra
  for d in cpu auto; do
    "$bin/sharedvis" info --device $d --model weights/fmnist_cnn.safetensors > "$work/info.txt" 2>&1 || cli_rc=1
    grep '^device' "$work/info.txt"
    if [ $d = auto ] && ! grep -q '^device: *cuda' "$work/info.txt"; then
      cli_rc=1
      echo "gpu_check: --device auto did not pick the GPU"
    fi
    for cmd in features vjp ig; do
      extra=()
      [ $cmd != features ] && extra=(--cotangent "$work/g.npy")
      timeout 60 "$bin/sharedvis" $cmd --device $d --model weights/fmnist_cnn.safetensors --layer features \
        --input "$work/x.npy" "${extra[@]}" --out "$work/${cmd}_$d.npy" > "$work/cli.log" 2>&1 ||
        { cli_rc=1; tail -3 "$work/cli.log"; }
    done
  done
  python3 - "$work" > "$log/cli.txt" 2>&1 <<'PY' || cli_rc=1
import sys, numpy as np
w = sys.argv[1]
bad = False
for cmd in ("features", "vjp", "ig"):
    a, b = np.load(f"{w}/{cmd}_auto.npy"), np.load(f"{w}/{cmd}_cpu.npy")
    e = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
    print(f"cli {cmd:8s} auto vs cpu: shape {a.shape}, max |diff| / max |cpu| = {e:.2e}")
    bad |= not (a.shape == b.shape and e < 1e-2)
sys.exit(1 if bad else 0)
PY
  cat "$log/cli.txt"

  # Deterministic mode is batch invariant: a whole explain run on Fashion-MNIST (flat
  # backgrounds, ties in max pooling) gives the same numbers and maps at --max-batch 64 and 1.
  echo "== explain: --device cuda, SHAREDVIS_CUDA_DETERMINISTIC=1, --max-batch 64 vs 1"
  if [ -d "$bin/fashion-mnist" ]; then
    SHAREDVIS_CUDA_DETERMINISTIC=1 bench/explain_batch_invariance.sh "$bin/sharedvis" cuda "$bin/fashion-mnist" \
      "$work/invariance" 2>&1 | tee "$log/explain_invariance.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || cli_rc=1
  else
    echo "gpu_check: the archive has no fashion-mnist/ (pack it again)"
    cli_rc=1
  fi
  [ "$cli_rc" = 0 ] && [ "$tests_rc" = 0 ] || tests_rc=1

  local sv_rc torch_rc
  if [ -n "${GPU_CHECK_TESTS_ONLY:-}" ]; then
    echo "== GPU_CHECK_TESTS_ONLY: benchmarks skipped"
    rm -rf "$work"
    [ "$tests_rc" = 0 ] && echo "gpu_check: CUDA tests and CLI checks passed"
    return "$tests_rc"
  fi
  echo "== sharedvis GPU benchmark"
  # The cuDNN plans (algorithm, math mode, workspace, time per convolution) go to the log.
  SHAREDVIS_CUDA_LOG_PLANS=${SHAREDVIS_CUDA_LOG_PLANS:-1} timeout 100 "$bin/sharedvis_bench_gpu" \
    --batch 64 --vjp-batch 2 --k 64 --size 224 --iters 10 --warmup 3 \
    ${GPU_CHECK_VARIANTS:+--variants} --json "$log/sharedvis.json" 2>&1 | tee "$log/bench_sharedvis.log"
  sv_rc=${PIPESTATUS[0]}

  echo "== PyTorch baseline"
  PYTHONUNBUFFERED=1 timeout 100 python3 bench/compare_torch_gpu.py --batch 64 --vjp-batch 2 --k 64 --size 224 \
    --iters 10 --warmup 3 --json "$log/torch.json" 2>&1 | tee "$log/bench_torch.log"
  torch_rc=${PIPESTATUS[0]}

  python3 - "$log" "$tests_rc" "$sv_rc" "$torch_rc" <<'PY' | tee "$log/summary.txt"
import json, os, sys
log, tests_rc, sv_rc, torch_rc = sys.argv[1], *map(int, sys.argv[2:])
def load(name):
    try:
        with open(os.path.join(log, name)) as f:
            return json.load(f)
    except Exception:
        return None
sv, th = load("sharedvis.json"), load("torch.json")
passed = failed = skipped = "?"
try:
    text = open(os.path.join(log, "tests.log")).read()
    import re
    m = re.search(r"\[  PASSED  \] (\d+) test", text); passed = m.group(1) if m else "0"
    m = re.search(r"\[  FAILED  \] (\d+) test", text); failed = m.group(1) if m else "0"
    m = re.search(r"\[  SKIPPED \] (\d+) test", text); skipped = m.group(1) if m else "0"
except Exception:
    pass
print("== summary")
print(f"CUDA tests: exit {tests_rc}, passed {passed}, failed {failed}, skipped {skipped}")
print(f"sharedvis bench exit {sv_rc}, torch bench exit {torch_rc}")
if sv and th:
    print(f"resnet50 {sv['size']}x{sv['size']} on {th['device']}, tf32 {sv['tf32']}, sharedvis {sv['backend']}, "
          f"torch {th['torch']} (cudnn.benchmark {th['cudnn_benchmark']})")
    print(f"validation: sharedvis features vs cpu {sv['validate']['features_rel_err']:.2e}, "
          f"K-stacked vjp vs single {sv['validate']['vjp_rel_err']:.2e}; torch batched vs loop {th['validate_vjp_rel_err']:.2e}")
    print(f"ig completeness gap (max): sharedvis {sv['ig_gap_max']:.2e}, torch {th['ig_gap_max']:.2e}")
    rows = [("features B=%d" % sv["batch"], sv["features"], [("torch", th["features"])]),
            ("vjp N=%d K=%d" % (sv["vjp_batch"], sv["k"]), sv["vjp"],
             [("torch loop", th["vjp_loop"]), ("torch batched", th["vjp_batched"])]),
            ("ig N=%d K=%d S=%d" % (sv["ig_batch"], sv["ig_k"], sv["ig_steps"]), sv["ig"], [("torch", th["ig"])])]
    print(f"{'workload':18s} {'method':14s} {'median ms':>10s} {'peak alloc MiB':>15s} {'peak reserved MiB':>18s}")
    ok = True
    for name, s, others in rows:
        print(f"{name:18s} {'sharedvis':14s} {s['median_ms']:10.2f} {s['peak_in_use_mib']:15.1f} {s['peak_reserved_mib']:18.1f}")
        for label, t in others:
            print(f"{'':18s} {label:14s} {t['median_ms']:10.2f} {t['peak_allocated_mib']:15.1f} {t['peak_reserved_mib']:18.1f}")
        best_label, best = min(others, key=lambda o: o[1]["median_ms"])
        speed = best["median_ms"] / s["median_ms"]
        mem = s["peak_in_use_mib"] / max(best["peak_allocated_mib"], 1e-9)
        res = s["peak_reserved_mib"] / max(best["peak_reserved_mib"], 1e-9)
        hit = speed >= 1.2 and mem <= 1.0
        ok = ok and hit
        print(f"{'':18s} -> vs {best_label}: {speed:.2f}x faster (target >= 1.2), peak allocated {mem:.2f}x, "
              f"reserved {res:.2f}x (target <= 1.0): {'MET' if hit else 'NOT MET'}")
    print("targets:", "MET" if ok else "NOT MET")
    for label, v in sv.get("variants", {}).items():
        print(f"variant {label:16s} features {v['features']['median_ms']:8.2f} ms, peak {v['features']['peak_in_use_mib']:7.1f} MiB; "
              f"vjp {v['vjp']['median_ms']:8.2f} ms, peak {v['vjp']['peak_in_use_mib']:7.1f} MiB")
else:
    print("benchmarks incomplete: see bench_sharedvis.log and bench_torch.log")
PY
  rm -rf "$work"
  [ "$tests_rc" = 0 ] && [ "$sv_rc" = 0 ] && [ "$torch_rc" = 0 ]
}

case "${1:-run}" in
  pack) shift; pack "$@" ;;
  run) shift || true; run "$@" ;;
  *) echo "usage: gpu_check.sh [run [ARCHIVE]] | pack BUILD_DIR"; exit 2 ;;
esac
