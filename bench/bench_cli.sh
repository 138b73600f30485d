#!/usr/bin/env bash
# Times the research-primitive commands end to end (process start, model loading, compute,
# writing), the way a user runs them. Usage:
#   bench/bench_cli.sh [MODEL.safetensors] [--device cpu|cuda|auto]
# Without a model it builds resnet50 with portable random weights (weights/convert.py).
# Inputs: N=4 random 224x224 images; G with K=16 cotangents at layer4 (avg pool).
# Environment: SHAREDVIS (binary; default build/sharedvis), N, K, STEPS (IG, default 32).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SV=${SHAREDVIS:-$ROOT/build/sharedvis}
[ -x "$SV" ] || { echo "no sharedvis binary at $SV (set SHAREDVIS=...)" >&2; exit 1; }
MODEL=""
DEVICE=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    *) MODEL=$1; shift ;;
  esac
done
N=${N:-4}
K=${K:-16}
STEPS=${STEPS:-32}
TMP=$(mktemp -d /tmp/sv_bench_cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
if [ -z "$MODEL" ]; then
  MODEL=$TMP/r50.safetensors
  /usr/bin/python3 "$ROOT/weights/convert.py" --arch resnet50 --random --seed 1 --out "$MODEL" >/dev/null
fi
/usr/bin/python3 - "$TMP" "$N" "$K" <<'PY'
import sys, numpy as np
d, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
np.save(f"{d}/x.npy", rng.standard_normal((n, 3, 224, 224)).astype(np.float32))
np.save(f"{d}/x1.npy", rng.standard_normal((1, 3, 224, 224)).astype(np.float32))
np.save(f"{d}/g1.npy", rng.standard_normal((1, 2048)).astype(np.float32))
np.save(f"{d}/gk.npy", rng.standard_normal((k, 1, 2048)).astype(np.float32))
PY
timed() {  # label, command...
  local label=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  awk -v l="$label" -v a="$t0" -v b="$t1" 'BEGIN { printf "%-34s %8.2f s\n", l, b - a }'
}
M=(--model "$MODEL" --device "$DEVICE")
echo "sharedvis: $SV ($("$SV" --version)); model: $MODEL; device: $DEVICE"
timed "info (load)" "$SV" info "${M[@]}"
timed "features N=$N layer4" "$SV" features "${M[@]}" --layer layer4 --input "$TMP/x.npy" --out "$TMP/f.npy"
timed "vjp K=1 layer4" "$SV" vjp "${M[@]}" --layer layer4 --input "$TMP/x1.npy" --cotangent "$TMP/g1.npy" --out "$TMP/v.npy"
timed "vjp K=$K layer4" "$SV" vjp "${M[@]}" --layer layer4 --max-batch "$K" --input "$TMP/x1.npy" --cotangent "$TMP/gk.npy" --out "$TMP/v.npy"
timed "jacobian 4 rows layer3" "$SV" jacobian "${M[@]}" --layer layer3 --dims 0,1,2,3 --input "$TMP/x1.npy" --out "$TMP/j.npy"
timed "ig $STEPS steps layer4" "$SV" ig "${M[@]}" --layer layer4 --steps "$STEPS" --input "$TMP/x1.npy" --cotangent "$TMP/g1.npy" --out "$TMP/ig.npy"
