// Library calls over a batch in chunks of images (or rows), and deterministic mode's
// batch invariance.
//
// cuDNN and cuBLAS choose their kernel, tiling and split of the reduction by the call's
// shape (and may look at its pointers' alignment), so an image's outputs can differ in the
// last bits between a call of 1, 3 or 64 images. On ties (max pooling over flat image
// regions) a last bit decides which input a window takes, and with it a whole gradient
// path. In deterministic mode (CudaOptions::deterministic) every call therefore takes a
// chunk of exactly `chunk` items, a size fixed by one item's shape and never by the batch,
// at 256-byte aligned addresses (cudaMalloc's alignment): a short chunk (the batch's last)
// or a misaligned one (a view into a larger tensor) is copied into a zero-padded staging
// buffer of the full size, and the real items' outputs are copied back. Each image then
// meets the same kernel with the same shape and alignment whatever shares its batch; the
// ops that use this (conv forward and backward-data, linear forward and backward-data)
// compute no sum across the items of a call, so the padding changes nothing.
#pragma once
#include <cstdint>
#include <functional>

#include "backends/cuda/cuda_backend_impl.h"

namespace sv::cuda {

// One library call on n consecutive items: in (n, in_per floats), out (n, out_per floats).
using ChunkCall = std::function<void(int64_t n, const float* in, float* out)>;

// Runs call over the N items of in and out, `chunk` items per call. pad = false: in place,
// the last call takes what is left (n < chunk). pad = true: every call takes exactly
// `chunk` items at 256-byte aligned addresses, staged where needed (see the file comment).
void run_chunked(CudaBackend& be, const float* in, int64_t in_per, float* out, int64_t out_per, int64_t N,
                    int64_t chunk, bool pad, const ChunkCall& call);

// Deterministic mode's chunk sizes, fixed by one item's size alone:
// images per convolution call, for per-image input and output sizes x_per and y_per
// (floats): the largest power of two up to 64 whose chunk holds at most 2^22 floats on
// either side (at least 1);
int64_t invariant_images_per_call(int64_t x_per, int64_t y_per);
// rows per GEMM of a linear layer (forward and data gradient).
constexpr int64_t kInvariantRows = 32;

}  // namespace sv::cuda
