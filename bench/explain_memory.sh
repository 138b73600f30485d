#!/usr/bin/env bash
# Peak memory of the staged explain's pairs and report tasks (docs/slurm.md, issue #14) on
# ResNet-50 at 224x224 (portable random weights, no download), recorded responses to N
# generated images (bench/stage_inputs.py), readout layer layer4, --device cpu --threads 1
# --no-faithfulness --top-ooc 2 --top-dims 2. The features and fit shards are made once by
# $SHAREDVIS; then each binary given runs pairs shard 0 of SHARDS and, after every pairs
# shard, the report, on its own copy of those shards. Printed per task: the peak resident
# set (/usr/bin/time -v, "Maximum resident set size") and the wall and CPU seconds, with
# the load average; the two binaries' reports are compared file by file first.
# Usage: bench/explain_memory.sh   Environment: SHAREDVIS (binary; default build/sharedvis),
# OLD (a second binary to compare, e.g. main's; optional), PYTHON (a python3 with numpy and
# torch, for weights/convert.py), N (images, default 300), NEURONS (default 20), SHARDS
# (pairs shards, default 10), KEEP=1 (keep the folder).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SV=${SHAREDVIS:-$ROOT/build/sharedvis}
[ -x "$SV" ] || { echo "no sharedvis binary at $SV (set SHAREDVIS=...)" >&2; exit 1; }
OLD=${OLD:-}
PY=${PYTHON:-python3}  # with numpy
N=${N:-300}
NEURONS=${NEURONS:-20}
SHARDS=${SHARDS:-10}
TMP=$(mktemp -d /tmp/sv_bench_memory.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$TMP"' EXIT
"$PY" "$ROOT/weights/convert.py" --arch resnet50 --random --seed 1 --out "$TMP/r50.safetensors" >/dev/null
"$PY" "$ROOT/bench/stage_inputs.py" "$TMP" "$N" "$NEURONS"
OPTS=(--responses "$TMP/responses.csv" --preferred face --model "$TMP/r50.safetensors" --layer layer4 --device cpu
      --threads 1 --no-progress --top-ooc 2 --top-dims 2 --no-faithfulness)
measure() {  # label, command...: peak RSS, wall and CPU seconds
  local label=$1
  shift
  /usr/bin/time -v -o "$TMP/time" "$@" >/dev/null 2>>"$TMP/stderr.log"
  awk -v l="$label" -F': ' '/Maximum resident set size/ { rss = $2 } /Elapsed \(wall clock\)/ { wall = $2 }
    /User time/ { cpu += $2 } /System time/ { cpu += $2 }
    END { printf "%-44s %8.1f MB peak RSS %10s wall %7.2f s CPU\n", l, rss / 1024, wall, cpu }' "$TMP/time"
}
echo "ResNet-50 224x224 layer4, $N images, $NEURONS neurons, pairs shard 0 of $SHARDS; $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pixels of all images as float32: $(awk -v n="$N" 'BEGIN { printf "%.1f MB", n * 3 * 224 * 224 * 4 / 1048576 }')"
"$SV" explain "${OPTS[@]}" --work "$TMP/base" --stage features >/dev/null 2>>"$TMP/stderr.log"
"$SV" explain "${OPTS[@]}" --work "$TMP/base" --stage fit >/dev/null 2>>"$TMP/stderr.log"
bins=("new:$SV")
[ -n "$OLD" ] && bins+=("old:$OLD")
for b in "${bins[@]}"; do
  name=${b%%:*} bin=${b#*:}
  mkdir -p "$TMP/$name"
  cp -r "$TMP/base/features" "$TMP/base/fit" "$TMP/$name/"
  for ((i = 1; i < SHARDS; ++i)); do
    "$bin" explain "${OPTS[@]}" --work "$TMP/$name" --stage pairs --shard "$i/$SHARDS" >/dev/null 2>>"$TMP/stderr.log"
  done
  measure "$name: pairs shard 0/$SHARDS" "$bin" explain "${OPTS[@]}" --work "$TMP/$name" --stage pairs --shard "0/$SHARDS"
  measure "$name: report" "$bin" explain "${OPTS[@]}" --work "$TMP/$name" --stage report --out "$TMP/$name/out"
done
if [ -n "$OLD" ]; then  # the same report, file by file (results.json less its timings)
  diff -r -q -x results.json -x index.html "$TMP/new/out" "$TMP/old/out" && echo "reports: the same files"
  "$PY" -c "import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); [d.pop('timing_seconds') for d in (a,b)]; \
print('results.json: the same less timing_seconds' if a == b else 'results.json DIFFERS'); sys.exit(a != b)" \
    "$TMP/new/out/results.json" "$TMP/old/out/results.json"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
