#!/usr/bin/env bash
# Builds sharedvis (if needed) and runs the whole test suite: the C++ tests (ctest), then the
# Python package: `pip install .` into a virtual environment ($BUILD_DIR/pyenv, made when
# missing) and its tests (python/tests, pytest) against the CLI just built. Usage: ./test.sh
set -euo pipefail
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)"
# The wheel is built in build/<wheel tag>/ (pip builds it in an isolated environment, which
# rebuilds it whole each run: about 4 CPU-minutes).
PYENV=${PYENV:-$BUILD_DIR/pyenv}
[ -x "$PYENV/bin/python" ] || python3 -m venv "$PYENV"
"$PYENV/bin/pip" install -q --disable-pip-version-check . pytest
SHAREDVIS_CLI="$(cd "$BUILD_DIR" && pwd)/sharedvis" "$PYENV/bin/python" -m pytest -q python/tests
