#!/usr/bin/env bash
# The staged explain's costs (docs/slurm.md, issue #14) on ResNet-50 at 224x224 with portable
# random weights (weights/convert.py --random; no download), recorded responses (a CSV of
# random responses to random images), readout layer layer4, --device cpu:
#   1. features, one shard on one thread, then two shards of one thread each at once (the
#      throughput criterion: two shards finish >= 1.8x faster on 2 cores);
#   2. fit (all neurons, one task);
#   3. pairs without the faithfulness curves (every neuron), and with them (one neuron).
# Wall time and CPU seconds (user + sys, /usr/bin/time) per step, with the load average.
# Usage: bench/explain_stages.sh   Environment: SHAREDVIS (binary; default build/sharedvis),
# PYTHON (a python3 with numpy, and torch for weights/convert.py), N (images, default 32), NEURONS (default 4), KEEP=1 (keep the folder).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SV=${SHAREDVIS:-$ROOT/build/sharedvis}
[ -x "$SV" ] || { echo "no sharedvis binary at $SV (set SHAREDVIS=...)" >&2; exit 1; }
PY=${PYTHON:-python3}  # with numpy and torch
N=${N:-32}
NEURONS=${NEURONS:-4}
TMP=$(mktemp -d /tmp/sv_bench_stages.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$TMP"' EXIT
"$PY" "$ROOT/weights/convert.py" --arch resnet50 --random --seed 1 --out "$TMP/r50.safetensors" >/dev/null
"$PY" "$ROOT/bench/stage_inputs.py" "$TMP" "$N" "$NEURONS"
OPTS=(--responses "$TMP/responses.csv" --preferred face --model "$TMP/r50.safetensors" --layer layer4 --device cpu
      --threads 1 --no-progress --top-ooc 2 --top-dims 2)
measure() {  # label, command...: wall seconds and CPU seconds
  local label=$1
  shift
  /usr/bin/time -f "%e %U %S" -o "$TMP/time" "$@" >/dev/null 2>>"$TMP/stderr.log"
  read -r wall user sys <"$TMP/time"
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN { printf "%-46s %8.2f s wall %8.2f s CPU\n", l, w, u + s }'
}
echo "sharedvis: $SV; ResNet-50 224x224 layer4, $N images, $NEURONS neurons; $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
measure "features, 1 shard x 1 thread" "$SV" explain "${OPTS[@]}" --work "$TMP/w1" --stage features --shard 0/1
t1=$(cut -d' ' -f1 "$TMP/time")
awk -v n="$N" -v t="$(awk '{ print $2 + $3 }' "$TMP/time")" 'BEGIN { printf "  = %.1f CPU-s per 1000 images (model loading and image decoding included)\n", t / n * 1000 }'
start=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$TMP/time0" "$SV" explain "${OPTS[@]}" --work "$TMP/w2" --stage features --shard 0/2 \
  >/dev/null 2>>"$TMP/stderr.log" &
p0=$!
/usr/bin/time -f "%U %S" -o "$TMP/time1" "$SV" explain "${OPTS[@]}" --work "$TMP/w2" --stage features --shard 1/2 \
  >/dev/null 2>>"$TMP/stderr.log" &
p1=$!
wait "$p0" "$p1"
t2=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
cpu2=$(cat "$TMP/time0" "$TMP/time1" | awk '{ s += $1 + $2 } END { printf "%.2f", s }')
awk -v l="features, 2 shards x 1 thread at once" -v w="$t2" -v c="$cpu2" \
  'BEGIN { printf "%-46s %8.2f s wall %8.2f s CPU (both)\n", l, w, c }'
awk -v a="$t1" -v b="$t2" 'BEGIN { printf "speed-up of 2 shards: %.2fx (target >= 1.8x on an otherwise idle 2-core machine)\n", a / b }'
measure "fit, $NEURONS neurons" "$SV" explain "${OPTS[@]}" --work "$TMP/w1" --stage fit --shard 0/1
mkdir -p "$TMP/w3"
cp -r "$TMP/w1/features" "$TMP/w1/fit" "$TMP/w3/"  # the same features and readouts
measure "pairs, $NEURONS neurons, --no-faithfulness" "$SV" explain "${OPTS[@]}" --no-faithfulness --work "$TMP/w3" --stage pairs --shard 0/1
measure "pairs, 1 neuron (shard 0/$NEURONS), faithfulness" "$SV" explain "${OPTS[@]}" --work "$TMP/w1" --stage pairs --shard "0/$NEURONS"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
