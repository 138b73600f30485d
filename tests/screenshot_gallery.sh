#!/usr/bin/env bash
# Renders the gallery (index.html) of an explain run to a PNG with headless Chromium, so
# that a person (or a reviewer's image viewer) can check it looks right: summary plots
# readable, each pair's images side by side, labels present.
#
# Usage: tests/screenshot_gallery.sh [RUN_DIR] [OUT.png] [WIDTHxHEIGHT]
#   RUN_DIR   an explain output folder; default: run `sharedvis explain` (the embedded
#             default) into a temporary folder first (needs BUILD_DIR, default build)
#   OUT.png   default RUN_DIR/screenshot.png
# Skips (exit 0, with a message) where no chromium is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
BROWSER=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$BROWSER" ]; then
  echo "screenshot_gallery: no chromium installed (apt-get install chromium); skipped"
  exit 0
fi
RUN_DIR=${1:-}
if [ -z "$RUN_DIR" ]; then
  BUILD_DIR=${BUILD_DIR:-build}
  RUN_DIR=$(mktemp -d)/explain
  "$BUILD_DIR/sharedvis" explain --no-progress --out "$RUN_DIR"
fi
[ -f "$RUN_DIR/index.html" ] || { echo "screenshot_gallery: $RUN_DIR/index.html not found" >&2; exit 1; }
OUT=${2:-$RUN_DIR/screenshot.png}
SIZE=${3:-1400x4000}
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
"$BROWSER" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$PROFILE" \
  --window-size="${SIZE/x/,}" --screenshot="$(realpath -m "$OUT")" "file://$(realpath "$RUN_DIR")/index.html" \
  >/dev/null 2>&1
[ -s "$OUT" ] || { echo "screenshot_gallery: chromium wrote no screenshot" >&2; exit 1; }
echo "screenshot: $OUT"
