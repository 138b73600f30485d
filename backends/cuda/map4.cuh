// map4: one grid-stride kernel that runs a functor over a range in groups of four
// elements: f.four(i) for a whole group starting at i (a multiple of 4), f.one(j) for
// the elements of a tail group. Functors decide themselves whether to use 16-byte accesses.
#pragma once
#include "backends/cuda/cuda_backend_impl.h"
#include "backends/cuda/kernel_util.cuh"

namespace sv::cuda {

template <class F>
__global__ void map4_kernel(int64_t n, F f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x * 4;
  for (int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * 4; i < n; i += stride) {
    if (i + 4 <= n)
      f.four(i);
    else
      for (int64_t j = i; j < n; ++j) f.one(j);
  }
}

template <class F>
void launch_map4(CudaBackend& be, int64_t n, const F& f) {
  if (n <= 0) return;
  map4_kernel<<<be.grid_for((n + 3) / 4, kThreads), kThreads, 0, be.stream()>>>(n, f);
  be.launched();
}

}  // namespace sv::cuda
