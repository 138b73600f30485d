// The per-channel view every backend takes of a batchnorm-like op's input: (N, C, H, W) or
// (N, C) seen as (N, C, R) with R = H·W (or 1).
#pragma once
#include <cstdint>
#include <string>

#include "autodiff/error.h"
#include "autodiff/tensor.h"

namespace sv {

struct ChannelView {
  int64_t N, C, R;
};

// ShapeError naming op for any other rank.
inline ChannelView channel_view(const Tensor& x, const char* op) {
  SV_CHECK(x.ndim() == 4 || x.ndim() == 2, ShapeError,
           std::string(op) + ": expected (N,C,H,W) or (N,C), got " + shape_str(x.shape()));
  return {x.dim(0), x.dim(1), x.ndim() == 4 ? x.dim(2) * x.dim(3) : 1};
}

}  // namespace sv
