#!/usr/bin/env bash
# Installs what sharedvis needs (Debian packages), builds it, and runs the main job on its
# embedded default. Usage: ./setup.sh   (BUILD_DIR=build by default)
set -euo pipefail
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
# clang, libclang-rt-dev (libFuzzer and the sanitizer runtimes), llvm (llvm-symbolizer) and
# libomp-dev (OpenMP for clang) serve the sanitizer and fuzz builds that CI runs
# (.ci/sanitize_and_fuzz.sh, fuzz/run.sh); the normal build uses g++. python3-dev and
# python3-venv serve the Python package (pyproject.toml; test.sh installs it into a virtual
# environment).
PACKAGES="build-essential cmake pkg-config libopenblas-dev liblapacke-dev nlohmann-json3-dev libcli11-dev
  zlib1g-dev libstb-dev libgtest-dev libbenchmark-dev dataset-fashion-mnist
  clang libclang-rt-dev llvm libomp-dev python3-dev python3-venv"
# Slurm and munge serve the Slurm test (tests/slurm/, docs/slurm.md): a private one-node cluster
# that the test starts and stops in a temporary folder, with nothing under /etc. Installed
# without their recommends, which add some 30 packages (the HDF5, InfluxDB, IPMI, ROCm...
# plugins and their libraries); every plugin the test uses is in slurm-wlm-basic-plugins.
# Where systemd runs, the packages enable their services (munge starts with the key the
# package made; slurmctld and slurmd do not start without /etc/slurm/slurm.conf); where it does
# not, their scripts say the services were not started. The test needs neither.
SLURM_PACKAGES="slurmctld slurmd slurm-client munge"
missing=$(for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
missing_slurm=$(for p in $SLURM_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing$missing_slurm" ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -q
  [ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
  [ -z "$missing_slurm" ] ||
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing_slurm
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j"$(nproc)"
if [ "${SETUP_SKIP_DEMO:-0}" != 1 ]; then
  "$BUILD_DIR/sharedvis" explain --out out/demo
fi
