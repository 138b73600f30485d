// ReLU's rule, one definition for every backend's kernels (CPU reference, fast CPU, CUDA):
//   forward   y = x where x > 0, 0 where x <= 0, NaN where x is NaN (as PyTorch: a NaN
//             is never hidden behind a plausible 0)
//   backward  the gradient passes where !(y <= 0), i.e. where y > 0 and where y is NaN
//             (PyTorch's threshold_backward: where(y <= 0, 0, g))
// No -ffast-math anywhere in the build: it would drop the NaN test.
#pragma once

#ifdef __CUDACC__
#define SV_HOST_DEVICE __host__ __device__
#else
#define SV_HOST_DEVICE
#endif

namespace sv {

template <class T>
SV_HOST_DEVICE inline T relu_value(T x) {
  return (x > T(0) || x != x) ? x : T(0);
}

template <class T>
SV_HOST_DEVICE inline bool relu_passes(T y) {
  return !(y <= T(0));
}

}  // namespace sv
