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
# The wheel build reuses build/<wheel tag>/ and, when ccache is installed, the objects of the
# build above (same sources and flags).
PYENV=${PYENV:-$BUILD_DIR/pyenv}
[ -x "$PYENV/bin/python" ] || python3 -m venv "$PYENV"
if command -v ccache >/dev/null; then export CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi
"$PYENV/bin/pip" install -q --disable-pip-version-check . pytest
SHAREDVIS_CLI="$(cd "$BUILD_DIR" && pwd)/sharedvis" "$PYENV/bin/python" -m pytest -q python/tests
