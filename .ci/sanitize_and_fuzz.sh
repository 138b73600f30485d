#!/usr/bin/env bash
# CI, after ./test.sh: the sanitizer build and the fuzzers. Usage: .ci/sanitize_and_fuzz.sh
#
# One clang build directory (build-san, CUDA off) compiled with ASan + UBSan
# (float-cast-overflow included, every report fatal) and libFuzzer's coverage hooks:
# the library, the CLI, the tests and the fuzz targets, compiled once for both steps.
#   1. The unit tests under the sanitizers, except SAN_EXCLUDE: 20 whole-network tests
#      (PyTorch parity of VGG and of ResNet-34/50/101/152, whole-ResNet conv+BN fusion,
#      torchvision's name lists, the training runs, the bundled model's accuracy) that
#      repeat at full size kernels the remaining tests cover on small and odd shapes. They
#      are 72% of the sanitized suite's time (245 of 339 test-seconds measured here; the
#      whole suite also passes under the sanitizers, in 2.9 min). What runs (227 tests,
#      under 1 min): every reader and its error cases, the CLI's bad inputs and primitives,
#      the autodiff engine, every op's gradient check and fast-path / Winograd comparison,
#      AlexNet and ResNet-18 parity, the method, and the end-to-end explain runs.
#   2. fuzz/run.sh: every fuzz target for FUZZ_SECONDS (default 20) from its seed corpus.
# A failing test, a sanitizer report or a fuzz finding makes the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SAN_BUILD_DIR:-build-san}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
SAN_EXCLUDE='ModelParity.*/(vgg|resnet(34|50|101|152))|ConvBnFusion\.(WholeResnets|FoldedWeights|LayersBeforeAndAfter)'
SAN_EXCLUDE+='|ModelNames\.MatchTorchvision|TrainCommand\.SmokeRun|Train\.(LossDecreases|SameSeed)|BundledModel\.'

start=$SECONDS
CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSHAREDVIS_CUDA=OFF \
  -DSHAREDVIS_SANITIZE=ON -DSHAREDVIS_FUZZ=ON -DSHAREDVIS_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "== sanitizer build: $((SECONDS - start)) s"

start=$SECONDS
UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j"$(nproc)" \
  -E "$SAN_EXCLUDE"
echo "== sanitizer tests: $((SECONDS - start)) s"

start=$SECONDS
BUILD_DIR="$BUILD_DIR" fuzz/run.sh "$FUZZ_SECONDS"
echo "== fuzzing: $((SECONDS - start)) s"
