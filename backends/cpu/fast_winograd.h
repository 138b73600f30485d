// Winograd F(2x2, 3x3): a 3x3, stride-1 convolution in 16 GEMMs over 4x4 input tiles.
//
// The output is cut into 2x2 tiles (the last row / column of tiles is partial when Ho or Wo
// is odd); tile (ty, tx) of image n reads the 4x4 input patch at rows 2ty - pad_h .. +3,
// columns 2tx - pad_w .. +3 (zero outside the image). With the fixed matrices
//   G (4x3) = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   B^T (4x4) = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   A^T (2x4) = [1 1 1 0; 0 1 -1 -1]
// the filter transform U = G g G^T (per output o, input c), the input transform
// V = B^T d B (per channel c and tile) and, per frequency xi = 0..15,
//   M_xi (O, tiles) = U_xi (O, C) * V_xi (C, tiles)            (one GEMM each)
// then the output transform Y = A^T m A (2x2 outputs per tile and o). 16 GEMMs of depth C
// replace one of depth 9C over 4 times the columns: 2.25x fewer multiply-adds.
//
// Tiles are processed in blocks of up to about 128 (whole tile rows of one image, or a
// piece of one long tile row; never tiles of two images, so that an image's result does not
// depend on its batch), so that a block's V (16, C, nt) and M (16, O, nt) stay a few
// MiB at most while each GEMM is wide enough to pay for OpenBLAS packing U_xi (O x C) anew
// in every call (blocks of 32 tiles left 512-channel convs no faster than im2col). Blocks
// run side by side on the worker threads (parallel_dynamic), each thread with its own V and
// M and single-threaded GEMM; with fewer blocks than threads, one block at a time with the
// transforms and the 16 GEMMs split over the threads.
//
// When it pays (2-core Zen 4, one thread, batch 8, see bench/README.md): ResNet-50's
// 3x3 convs 64..256 channels ~1.6x im2col's speed, 512 channels at 7x7 ~1.1-1.5x (a 7x7
// output needs 4x4 tiles, and the filter transform of 2.4M taps is memory-bound); channel
// counts from 16 (in and out) up gain; with 1-4 input channels im2col is 1.5-4x faster.
#pragma once
#include "autodiff/backend.h"
#include "backends/cpu/fast_parallel.h"

namespace sv::fast {

// Whether conv2d_forward takes the Winograd path: par.winograd, groups 1, a 3x3 kernel,
// stride 1, dilation 1, padding 0..2, and enough channels (in and out) to pay off.
bool winograd_applies(const Parallel& par, const Shape& x, const Shape& w, const Conv2dParams& p);

// The Winograd convolution itself, for any shape that winograd_applies would take whatever
// its channel counts. b may be undefined (no bias). float32 and float64.
// relu: max(y, 0) applied as the outputs are written (Backend::conv2d_relu_forward).
Tensor conv2d_winograd(const Parallel& par, const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                       bool relu = false);

}  // namespace sv::fast
