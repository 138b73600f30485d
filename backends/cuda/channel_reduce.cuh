// Per-segment sums for channel statistics and block sums, deterministic.
//
// A tensor is viewed as (K, Nb, C, R): K stacked blocks (the K of a K-stacked gradient),
// Nb images per block, C channels, R = H*W. Segment (k, c) holds every (n, r) of channel c
// in block k. segment_sums() computes, for each segment, the sums of the two values a
// functor returns per element (in double), in two passes with fixed launch shapes:
//   1. blocks over (segment, split): each sums a contiguous slice of its segment;
//   2. one thread per segment adds its S partials in order and calls finish(seg, sums).
// S depends only on the shape, so results are the same run after run.
//   f(j, k) -> double2        element j (flat index) of block k
//   finish(k, c, double2 sums)
#pragma once
#include "backends/cuda/cuda_backend_impl.h"
#include "backends/cuda/kernel_util.cuh"

namespace sv::cuda {

struct SegView {
  int64_t K, Nb, C, R;
};

template <class F>
__global__ void segment_partials_kernel(SegView v, int S, F f, double2* partial) {
  const int64_t b = blockIdx.x, s = b % S, seg = b / S, c = seg % v.C, k = seg / v.C;
  const int64_t L = v.Nb * v.R, q0 = L * s / S, q1 = L * (s + 1) / S;
  double ax = 0, ay = 0;
  int64_t q = q0 + threadIdx.x, n = 0, r = 0;
  if (q < q1) {
    n = q / v.R;
    r = q - n * v.R;
  }
  const int64_t base = k * v.Nb;
  for (; q < q1; q += blockDim.x) {
    double2 t = f(((base + n) * v.C + c) * v.R + r, k);
    ax += t.x;
    ay += t.y;
    r += blockDim.x;
    if (r >= v.R) {
      n += r / v.R;
      r %= v.R;
    }
  }
  ax = block_sum(ax);
  ay = block_sum(ay);
  if (threadIdx.x == 0) partial[b] = make_double2(ax, ay);
}

template <class G>
__global__ void segment_finish_kernel(int64_t segments, int64_t C, int S, const double2* partial, G finish) {
  const int64_t seg = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (seg >= segments) return;
  double x = 0, y = 0;
  for (int s = 0; s < S; ++s) {
    x += partial[seg * S + s].x;
    y += partial[seg * S + s].y;
  }
  finish(seg / C, seg % C, make_double2(x, y));
}

template <class F, class G>
void segment_sums(CudaBackend& be, const SegView& v, const F& f, const G& finish) {
  const int64_t segments = v.K * v.C, L = v.Nb * v.R;
  if (segments == 0) return;
  int64_t S = (1024 + segments - 1) / segments;
  const int64_t by_size = (L + 8191) / 8192;
  if (S > by_size) S = by_size;
  if (S < 1) S = 1;
  Tensor partial = be.empty({segments * S * 2}, DType::F64);
  auto* part = static_cast<double2*>(partial.raw());
  segment_partials_kernel<<<static_cast<unsigned>(segments * S), kThreads, 0, be.stream()>>>(v, static_cast<int>(S),
                                                                                              f, part);
  be.launched();
  segment_finish_kernel<<<static_cast<unsigned>((segments + kThreads - 1) / kThreads), kThreads, 0, be.stream()>>>(
      segments, v.C, static_cast<int>(S), part, finish);
  be.launched();
}

}  // namespace sv::cuda
