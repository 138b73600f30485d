// Fast linear layer: GEMM, forward and both backward passes side by side.
//   forward        y (N,O)  = x (N,I) * w^T + b
//   backward data  gx (N,I) = gy (N,O) * w (O,I)
//   backward weight gw (O,I) = gy^T (O,N) * x (N,I)
// The rows of the result are split over threads, one single-threaded GEMM each (see
// fast_gemm.h for why OpenBLAS does not thread by itself here).
#include <algorithm>

#include "layers/cpu/dispatch.h"
#include "layers/cpu/fast.h"
#include "layers/cpu/fast_gemm.h"
#include "layers/cpu/fast_parallel.h"

namespace sv::fast {

Tensor linear_forward(const Parallel& par, const Tensor& x, const Tensor& w, const Tensor& b) {
  const SingleThreadedBlas blas;
  return dispatch_float(x, "linear", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
    Tensor y = par.empty({N, O}, x.dtype());
    const T *X = x.data<T>(), *Wt = w.data<T>(), *B = b.defined() ? b.data<T>() : nullptr;
    T* Y = y.data<T>();
    parallel_for(par, N, par.macs_grain(I * O), [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n)
        if (B)
          std::copy(B, B + O, Y + n * O);
        else
          std::fill_n(Y + n * O, O, T(0));
      if (I > 0) gemm(false, true, n1 - n0, O, I, T(1), X + n0 * I, I, Wt, I, T(1), Y + n0 * O, O, par.k_slice);
    });
    return y;
  });
}

Tensor linear_backward_data(const Parallel& par, const Tensor& gy, const Tensor& w) {
  const SingleThreadedBlas blas;
  return dispatch_float(gy, "linear", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = gy.dim(0), O = w.dim(0), I = w.dim(1);
    Tensor gx = par.zeros({N, I}, gy.dtype());
    const T *G = gy.data<T>(), *Wt = w.data<T>();
    T* GX = gx.data<T>();
    parallel_for(par, N, par.macs_grain(I * O), [&](int64_t n0, int64_t n1) {
      if (O > 0 && I > 0) gemm(false, false, n1 - n0, I, O, T(1), G + n0 * O, O, Wt, I, T(0), GX + n0 * I, I, par.k_slice);
    });
    return gx;
  });
}

Tensor linear_backward_weight(const Parallel& par, const Tensor& x, const Tensor& gy) {
  const SingleThreadedBlas blas;
  return dispatch_float(x, "linear", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = x.dim(0), I = x.dim(1), O = gy.dim(1);
    Tensor gw = par.zeros({O, I}, x.dtype());
    const T *G = gy.data<T>(), *X = x.data<T>();
    T* GW = gw.data<T>();
    parallel_for(par, O, par.macs_grain(N * I), [&](int64_t o0, int64_t o1) {
      if (N > 0 && I > 0)
        gemm(true, false, o1 - o0, I, N, T(1), G + o0, O, X, I, T(0), GW + o0 * I, I, /*kc=*/0);
    });
    return gw;
  });
}

}  // namespace sv::fast
