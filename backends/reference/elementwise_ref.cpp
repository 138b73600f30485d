// Reference elementwise kernels and reductions.
#include <cmath>
#include <cstring>

#include "autodiff/dispatch.h"
#include "backends/reference/reference.h"
#include "autodiff/relu_rule.h"

namespace sv::ref {

Tensor host_share(const Tensor& t, const char* op) {
  SV_CHECK(!t.defined() || t.is_cpu(), ShapeError,
           std::string(op) + ": a " + t.describe() + " tensor was given to a cpu backend (download it first)");
  return t;
}

void host_copy(Tensor& dst, const Tensor& src) {
  host_share(dst, "copy");
  host_share(src, "copy");
  SV_CHECK(dst.numel() == src.numel() && dst.dtype() == src.dtype(), ShapeError,
           "copy: " + shape_str(src.shape()) + " " + dtype_name(src.dtype()) + " into " + shape_str(dst.shape()) + " " +
               dtype_name(dst.dtype()));
  std::memmove(dst.raw(), src.raw(), src.nbytes());
}

void check_tiled(const Tensor& g, const Tensor& m, int64_t K, const char* op) {
  check_same_dtype_device(g, m, op);
  check_stacked(g.shape(), m.shape(), K, op);
}

namespace {
// y[i] = f(i) over a fresh tensor shaped like `like`
template <class T, class F>
Tensor generate(const Tensor& like, F&& f) {
  Tensor y = Tensor::empty(like.shape(), like.dtype());
  T* Y = y.data<T>();
  const int64_t n = y.numel();
  for (int64_t i = 0; i < n; ++i) Y[i] = f(i);
  return y;
}
}  // namespace

Tensor relu_forward(const Tensor& x) {
  return dispatch_float(x, "relu", [&](auto t) {
    using T = decltype(t);
    const T* X = x.data<T>();
    return generate<T>(x, [&](int64_t i) { return relu_value(X[i]); });
  });
}

Tensor relu_backward(const Tensor& gy, const Tensor& y, int64_t K) {
  const int64_t per = y.numel();
  check_tiled(gy, y, K, "relu backward");
  return dispatch_float(gy, "relu", [&](auto t) {
    using T = decltype(t);
    const T *G = gy.data<T>(), *Y = y.data<T>();
    return generate<T>(gy, [&](int64_t i) { return relu_passes(Y[i % per]) ? G[i] : T(0); });
  });
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "add");
  check_same_dtype_device(a, b, "add");
  return dispatch_float(a, "add", [&](auto t) {
    using T = decltype(t);
    const T *A = a.data<T>(), *B = b.data<T>();
    return generate<T>(a, [&](int64_t i) { return A[i] + B[i]; });
  });
}

void axpy_(Tensor& y, const Tensor& x, double alpha) {
  SV_CHECK(y.numel() == x.numel(), ShapeError, "axpy: " + shape_str(y.shape()) + " vs " + shape_str(x.shape()));
  check_same_dtype_device(y, x, "axpy");
  dispatch_float(y, "axpy", [&](auto t) {
    using T = decltype(t);
    T* Y = y.data<T>();
    const T* X = x.data<T>();
    const T a = static_cast<T>(alpha);
    for (int64_t i = 0; i < y.numel(); ++i) Y[i] += a * X[i];
    return 0;
  });
}

Tensor scale(const Tensor& x, double s) {
  return dispatch_float(x, "scale", [&](auto t) {
    using T = decltype(t);
    const T* X = x.data<T>();
    const T a = static_cast<T>(s);
    return generate<T>(x, [&](int64_t i) { return a * X[i]; });
  });
}

Tensor mul_tiled(const Tensor& g, const Tensor& m, int64_t K) {
  const int64_t per = m.numel();
  check_tiled(g, m, K, "mul");
  return dispatch_float(g, "mul", [&](auto t) {
    using T = decltype(t);
    const T *G = g.data<T>(), *Mv = m.data<T>();
    return generate<T>(g, [&](int64_t i) { return G[i] * Mv[i % per]; });
  });
}

Tensor interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) {
  check_same_shape(x0, x1, "interpolate");
  check_same_dtype_device(x0, x1, "interpolate");
  SV_CHECK(x0.ndim() >= 1, ShapeError, "interpolate: inputs must have a batch dimension");
  return dispatch_float(x0, "interpolate", [&](auto tag) {
    using T = decltype(tag);
    const int64_t per = x0.numel();
    Tensor y = Tensor::empty(fold_k(x0.shape(), static_cast<int64_t>(t.size())), x0.dtype());
    const T *A = x0.data<T>(), *B = x1.data<T>();
    T* Y = y.data<T>();
    for (size_t s = 0; s < t.size(); ++s) {
      const T ts = static_cast<T>(t[s]);
      for (int64_t i = 0; i < per; ++i) Y[s * per + i] = A[i] + ts * (B[i] - A[i]);
    }
    return y;
  });
}

Tensor sum_all(const Tensor& x) {
  return dispatch_float(x, "sum", [&](auto t) {
    using T = decltype(t);
    double s = 0;
    const T* X = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) s += X[i];
    return Tensor::full({}, s, x.dtype());
  });
}

Tensor sum_blocks(const Tensor& x, int64_t K) {
  SV_CHECK(K > 0 && x.numel() % K == 0, ShapeError,
           "sum_blocks: " + shape_str(x.shape()) + " is not " + std::to_string(K) + " equal blocks");
  return dispatch_float(x, "sum_blocks", [&](auto t) {
    using T = decltype(t);
    const int64_t M = x.numel() / K;
    Tensor y = Tensor::empty({K}, x.dtype());
    const T* X = x.data<T>();
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t i = 0; i < M; ++i) s += X[k * M + i];
      y.data<T>()[k] = static_cast<T>(s);
    }
    return y;
  });
}

Tensor broadcast_blocks(const Tensor& g, int64_t M, double s) {
  return dispatch_float(g, "broadcast_blocks", [&](auto t) {
    using T = decltype(t);
    const int64_t K = g.numel();
    Tensor y = Tensor::empty({K * M}, g.dtype());
    const T* G = g.data<T>();
    T* Y = y.data<T>();
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < M; ++i) Y[k * M + i] = static_cast<T>(G[k] * s);
    return y;
  });
}

}  // namespace sv::ref
