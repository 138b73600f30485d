#!/usr/bin/env bash
# sharedvis as a library, from outside: install the build into a temporary prefix, then
#  1. a separate CMake project (examples/) finds it with find_package(sharedvis CONFIG),
#     links sharedvis::engine/models/io and runs: a CPU-only program, so no CUDA library may
#     be linked into it, whether or not sharedvis was built with CUDA;
#  2. its K = 16 vjp equals, byte for byte, the installed CLI's `sharedvis vjp` on the same
#     files, and the CLI finds the installed bundled model by itself (`sharedvis eval`);
#  3. the same program compiles and links with pkg-config's flags alone.
# Usage: tests/install_consumer.sh BUILD_DIR SOURCE_DIR   (ctest runs it: install_consumer)
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install_consumer: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install failed"; }
[[ -f $tmp/prefix/include/sharedvis/autodiff/graph.h ]] || fail "headers are not under include/sharedvis/"
[[ -f $tmp/prefix/share/sharedvis/fmnist_cnn.safetensors ]] || fail "the bundled model is not under share/sharedvis/"

# 1. find_package from a separate project (no access to the source tree's headers: the
#    example includes <sharedvis/...> only, which resolve in the prefix).
cmake -S "$src/examples" -B "$tmp/example" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release \
  >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "find_package(sharedvis) failed"; }
cmake --build "$tmp/example" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "the example did not build"; }
exe=$tmp/example/vjp_example
if ldd "$exe" | grep -Ei 'libcu(da|dart|blas|dnn)'; then fail "a CPU-only program links a CUDA library"; fi
if nm "$exe" | grep -qE ' [TtWw] cuda(GetDeviceCount|Malloc)\b'; then fail "a CPU-only program contains the CUDA runtime"; fi
mkdir "$tmp/out"
"$exe" "" "$tmp/out" >/dev/null 2>&1 && fail "an empty model path was accepted"
(cd "$tmp" && "$exe") || fail "the example failed on the installed bundled model"
mv "$tmp/x.npy" "$tmp/G.npy" "$tmp/vjp.npy" "$tmp/out/"

# 2. The installed CLI on the same files, and finding its bundled model (no
#    SHAREDVIS_MODEL_DIR; the source tree is not consulted).
cli=$tmp/prefix/bin/sharedvis
"$cli" vjp --model "$tmp/prefix/share/sharedvis/fmnist_cnn.safetensors" --device cpu --layer features \
  --input "$tmp/out/x.npy" --cotangent "$tmp/out/G.npy" --max-batch 64 --out "$tmp/out/cli.npy" >/dev/null
cmp "$tmp/out/vjp.npy" "$tmp/out/cli.npy" || fail "the library's vjp differs from the CLI's"
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  env -u SHAREDVIS_MODEL_DIR "$cli" eval --dataset fashion-mnist --limit 20 --device cpu >"$tmp/eval.log" 2>&1 ||
    { cat "$tmp/eval.log"; fail "the installed CLI did not find its bundled model"; }
fi

# 3. pkg-config
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
pkg-config --exists sharedvis || fail "pkg-config does not know sharedvis"
# shellcheck disable=SC2046
c++ -O1 -o "$tmp/vjp_pc" "$src/examples/vjp_example.cpp" -DSHAREDVIS_EXAMPLE_MODEL="\"$tmp/prefix/share/sharedvis/fmnist_cnn.safetensors\"" \
  $(pkg-config --cflags --libs sharedvis) || fail "the example does not build with pkg-config's flags"
(cd "$tmp/out" && "$tmp/vjp_pc" >/dev/null && cmp vjp.npy cli.npy) || fail "the pkg-config build gives other numbers"
echo "install_consumer: find_package, CPU-only link, CLI parity and pkg-config all pass"
