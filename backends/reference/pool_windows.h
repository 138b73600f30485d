// Window rules of torch's pooling, shared by the reference and the fast CPU kernels.
#pragma once
#include <algorithm>
#include <cstdint>

#include "autodiff/backend.h"

namespace sv {

// avg_pool2d: the input window [h0, h1) x [w0, w1) of output (oh, ow) and its divisor.
// The divisor counts padding (count_include_pad) but never the part of a ceil_mode
// window past the padded input.
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  double divisor;
};

inline AvgWindow avg_window(int64_t oh, int64_t ow, int64_t H, int64_t W, const Pool2dParams& p) {
  int64_t h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
  int64_t h1 = std::min(h0 + p.kernel_h, H + p.pad_h), w1 = std::min(w0 + p.kernel_w, W + p.pad_w);
  const double pool_size = static_cast<double>((h1 - h0) * (w1 - w0));
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, H);
  w1 = std::min(w1, W);
  const double div = p.count_include_pad ? pool_size : static_cast<double>((h1 - h0) * (w1 - w0));
  return {h0, h1, w0, w1, div};
}

// AdaptiveAvgPool2d: bin i of `out` over `in` spans [floor(i*in/out), ceil((i+1)*in/out)).
inline int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

}  // namespace sv
