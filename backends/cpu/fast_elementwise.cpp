// Fast elementwise kernels: the reference loops split over threads, K-tiled factors read
// block by block instead of through a modulo per element.
#include <algorithm>

#include "autodiff/dispatch.h"
#include "backends/cpu/fast.h"
#include "backends/cpu/fast_parallel.h"
#include "backends/reference/reference.h"
#include "autodiff/relu_rule.h"

namespace sv::fast {

namespace {
// y[i] = f(i) over a fresh tensor shaped like `like`, split over threads.
template <class T, class F>
Tensor generate(const Parallel& par, const Tensor& like, F&& f) {
  Tensor y = par.empty(like.shape(), like.dtype());
  T* Y = y.data<T>();
  parallel_for(par, y.numel(), par.min_elements, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) Y[i] = f(i);
  });
  return y;
}

// out[i] = f(g[i], m[i % per]) for g K-tiled over m (per = m.numel()), block by block.
template <class T, class F>
Tensor tiled(const Parallel& par, const Tensor& g, const Tensor& m, F&& f) {
  Tensor y = par.empty(g.shape(), g.dtype());
  const T *G = g.data<T>(), *Mv = m.data<T>();
  T* Y = y.data<T>();
  const int64_t per = m.numel();
  parallel_for(par, y.numel(), par.min_elements, [&](int64_t b, int64_t e) {
    while (b < e) {
      const int64_t j0 = b % per, len = std::min(e - b, per - j0);
      for (int64_t j = 0; j < len; ++j) Y[b + j] = f(G[b + j], Mv[j0 + j]);
      b += len;
    }
  });
  return y;
}
}  // namespace

Tensor relu_forward(const Parallel& par, const Tensor& x) {
  return dispatch_float(x, "relu", [&](auto t) {
    using T = decltype(t);
    const T* X = x.data<T>();
    return generate<T>(par, x, [&](int64_t i) { return relu_value(X[i]); });
  });
}

Tensor relu_backward(const Parallel& par, const Tensor& gy, const Tensor& y, int64_t K) {
  ref::check_tiled(gy, y, K, "relu backward");
  return dispatch_float(gy, "relu", [&](auto t) {
    using T = decltype(t);
    return tiled<T>(par, gy, y, [](T g, T v) { return relu_passes(v) ? g : T(0); });
  });
}

Tensor add(const Parallel& par, const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "add");
  check_same_dtype_device(a, b, "add");
  return dispatch_float(a, "add", [&](auto t) {
    using T = decltype(t);
    const T *A = a.data<T>(), *B = b.data<T>();
    return generate<T>(par, a, [&](int64_t i) { return A[i] + B[i]; });
  });
}

void axpy_(const Parallel& par, Tensor& y, const Tensor& x, double alpha) {
  SV_CHECK(y.numel() == x.numel(), ShapeError, "axpy: " + shape_str(y.shape()) + " vs " + shape_str(x.shape()));
  check_same_dtype_device(y, x, "axpy");
  dispatch_float(y, "axpy", [&](auto t) {
    using T = decltype(t);
    T* Y = y.data<T>();
    const T* X = x.data<T>();
    const T a = static_cast<T>(alpha);
    parallel_for(par, y.numel(), par.min_elements, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) Y[i] += a * X[i];
    });
    return 0;
  });
}

Tensor scale(const Parallel& par, const Tensor& x, double s) {
  return dispatch_float(x, "scale", [&](auto t) {
    using T = decltype(t);
    const T* X = x.data<T>();
    const T a = static_cast<T>(s);
    return generate<T>(par, x, [&](int64_t i) { return a * X[i]; });
  });
}

Tensor mul_tiled(const Parallel& par, const Tensor& g, const Tensor& m, int64_t K) {
  ref::check_tiled(g, m, K, "mul");
  return dispatch_float(g, "mul", [&](auto t) {
    using T = decltype(t);
    return tiled<T>(par, g, m, [](T a, T b) { return a * b; });
  });
}

}  // namespace sv::fast
