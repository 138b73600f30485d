#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.cpp, clang with ASan + UBSan) and runs each one
# for SECONDS (default 60) on a scratch copy of its corpus, seeded from fuzz/corpus/<target>/.
# Exits non-zero if any target crashed, hit a sanitizer report, hung (an input over 10 s),
# leaked or ran out of memory (2 GB); for each it prints the reproducer and how to rerun it.
#
# Usage: fuzz/run.sh [SECONDS]
#   BUILD_DIR=build-fuzz               the build directory (configured here if new)
#   FUZZ_TARGETS="npy csv"             a subset (default: all six)
#   FUZZ_OUT=$BUILD_DIR/fuzz-runs      where corpora, logs and reproducers go
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
BUILD_DIR=${BUILD_DIR:-build-fuzz}
TARGETS=${FUZZ_TARGETS:-"safetensors npy idx csv image model"}
OUT=${FUZZ_OUT:-$BUILD_DIR/fuzz-runs}

# CXX only matters the first time a build directory is configured.
CXX=${CXX:-clang++} cmake -S . -B "$BUILD_DIR" -DSHAREDVIS_FUZZ=ON -DSHAREDVIS_CUDA=OFF -DSHAREDVIS_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target fuzz_all

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
for t in $TARGETS; do
  work="$OUT/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus"
  log="$work/log.txt"
  echo "== fuzz_$t: ${SECONDS_EACH} s, log $log"
  # The first corpus directory receives new inputs; the committed seeds are only read.
  if "$BUILD_DIR/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | tr '\n' ' ' || true
    echo "(ok)"
  else
    status=1
    echo "FAILED: fuzz_$t (last lines of $log:)"
    tail -n 60 "$log" | sed 's/^/    /'
    found=0
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*; do
      [ -e "$a" ] || continue
      found=1
      echo "reproducer: $a"
      echo "rerun:      $BUILD_DIR/fuzz/fuzz_$t $a"
    done
    [ "$found" = 1 ] || echo "no reproducer written (the fuzzer itself failed to start?)"
  fi
done
exit $status
