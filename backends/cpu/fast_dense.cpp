// Fast linear layer: GEMM, forward and both backward passes side by side.
//   forward        y (N,O)  = x (N,I) * w^T + b
//   backward data  gx (N,I) = gy (N,O) * w (O,I)
//   backward weight gw (O,I) = gy^T (O,N) * x (N,I)
// Forward and data gradient: the N rows go in blocks of exactly kRows rows (the last block
// padded with zero rows in scratch), one single-threaded GEMM of the same shape per block,
// the blocks split over threads (see fast_gemm.h for why OpenBLAS does not thread by itself
// here). Why fixed blocks: OpenBLAS computes a row differently depending on the call's
// shape (on 0.3.21 a lone row, M = 1, differs in the last bits from the same row among
// several), so a row's result would depend on how many images share its batch. With one
// call shape for every block, it does not (batch invariance). The price: a batch of one
// image does the work of kRows rows here, and w is packed once per block.
// The weight gradient sums over the batch by definition; its rows are split over threads.
#include <algorithm>
#include <cstring>

#include "autodiff/dispatch.h"
#include "backends/cpu/fast.h"
#include "backends/cpu/fast_gemm.h"
#include "backends/cpu/fast_parallel.h"

namespace sv::fast {

namespace {
constexpr int64_t kRows = 32;  // rows per GEMM: enough to amortize packing w

// out (N, Q) = f(in (N, P)) block by block: f(in_block, out_block) computes kRows rows.
// A partial last block goes through zero-padded scratch.
template <class T, class F>
void for_row_blocks(const Parallel& par, int64_t N, int64_t P, int64_t Q, int64_t macs_per_row, const T* in, T* out,
                    F&& f) {
  const int64_t blocks = (N + kRows - 1) / kRows;
  parallel_for(par, blocks, par.macs_grain(kRows * macs_per_row), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n0 = b * kRows, m = std::min(kRows, N - n0);
      if (m == kRows) {
        f(in + n0 * P, out + n0 * Q);
        continue;
      }
      Tensor pad = par.zeros({kRows * (P + Q)}, dtype_of<T>());
      T *pin = pad.data<T>(), *pout = pin + kRows * P;
      std::memcpy(pin, in + n0 * P, static_cast<size_t>(m * P) * sizeof(T));
      f(pin, pout);
      std::memcpy(out + n0 * Q, pout, static_cast<size_t>(m * Q) * sizeof(T));
    }
  });
}
}  // namespace

Tensor linear_forward(const Parallel& par, const Tensor& x, const Tensor& w, const Tensor& b) {
  const SingleThreadedBlas blas;
  return dispatch_float(x, "linear", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
    Tensor y = par.empty({N, O}, x.dtype());
    const T *X = x.data<T>(), *Wt = w.data<T>(), *B = b.defined() ? b.data<T>() : nullptr;
    for_row_blocks<T>(par, N, I, O, I * O, X, y.data<T>(), [&](const T* xb, T* yb) {
      for (int64_t r = 0; r < kRows; ++r)
        if (B)
          std::copy(B, B + O, yb + r * O);
        else
          std::fill_n(yb + r * O, O, T(0));
      if (I > 0) gemm(false, true, kRows, O, I, T(1), xb, I, Wt, I, T(1), yb, O, par.k_slice);
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
    for_row_blocks<T>(par, N, O, I, I * O, G, gx.data<T>(), [&](const T* gb, T* xb) {
      if (O > 0 && I > 0) gemm(false, false, kRows, I, O, T(1), gb, O, Wt, I, T(0), xb, I, par.k_slice);
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
      if (N > 0 && I > 0) gemm(true, false, o1 - o0, I, N, T(1), G + o0, O, X, I, T(0), GW + o0 * I, I, /*kc=*/0);
    });
    return gw;
  });
}

}  // namespace sv::fast
