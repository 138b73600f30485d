// Reference linear layer and softmax cross-entropy: plain loops.
#include <cmath>

#include "autodiff/dispatch.h"
#include "backends/reference/reference.h"

namespace sv::ref {

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  return dispatch_float(x, "linear", [&](auto t) {
    using T = decltype(t);
    const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
    Tensor y = Tensor::empty({N, O}, x.dtype());
    const T *X = x.data<T>(), *Wt = w.data<T>(), *B = b.defined() ? b.data<T>() : nullptr;
    T* Y = y.data<T>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        double s = B ? B[o] : 0.0;  // accumulated in double, rounded once
        for (int64_t i = 0; i < I; ++i) s += static_cast<double>(X[n * I + i]) * Wt[o * I + i];
        Y[n * O + o] = static_cast<T>(s);
      }
    return y;
  });
}

Tensor linear_backward_data(const Tensor& gy, const Tensor& w) {
  return dispatch_float(gy, "linear", [&](auto t) {
    using T = decltype(t);
    const int64_t N = gy.dim(0), O = w.dim(0), I = w.dim(1);
    Tensor gx = Tensor::zeros({N, I}, DType::F64);  // accumulated in double, rounded once at the end
    const T *G = gy.data<T>(), *Wt = w.data<T>();
    double* GX = gx.data<double>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t i = 0; i < I; ++i) GX[n * I + i] += static_cast<double>(G[n * O + o]) * Wt[o * I + i];
    return gx.to(gy.dtype());
  });
}

Tensor linear_backward_weight(const Tensor& x, const Tensor& gy) {
  return dispatch_float(x, "linear", [&](auto t) {
    using T = decltype(t);
    const int64_t N = x.dim(0), I = x.dim(1), O = gy.dim(1);
    Tensor gw = Tensor::zeros({O, I}, DType::F64);  // accumulated in double, rounded once at the end
    const T *G = gy.data<T>(), *X = x.data<T>();
    double* GW = gw.data<double>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t i = 0; i < I; ++i) GW[o * I + i] += static_cast<double>(G[n * O + o]) * X[n * I + i];
    return gw.to(x.dtype());
  });
}

Tensor softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) {
  return dispatch_float(logits, "cross_entropy", [&](auto t) {
    using T = decltype(t);
    const int64_t N = logits.dim(0), C = logits.dim(1);
    probs = Tensor::empty({N, C}, logits.dtype());
    const T* L = logits.data<T>();
    const int32_t* Y = labels.data<int32_t>();
    T* P = probs.data<T>();
    double loss = 0;
    for (int64_t n = 0; n < N; ++n) {
      T m = L[n * C];
      for (int64_t c = 1; c < C; ++c) m = std::max(m, L[n * C + c]);
      double z = 0;
      for (int64_t c = 0; c < C; ++c) z += std::exp(static_cast<double>(L[n * C + c] - m));
      for (int64_t c = 0; c < C; ++c) P[n * C + c] = static_cast<T>(std::exp(static_cast<double>(L[n * C + c] - m)) / z);
      loss += std::log(z) + static_cast<double>(m) - static_cast<double>(L[n * C + Y[n]]);
    }
    return Tensor::full({}, loss / static_cast<double>(N), logits.dtype());
  });
}

Tensor softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels) {
  return dispatch_float(probs, "cross_entropy", [&](auto t) {
    using T = decltype(t);
    const int64_t K = g.numel(), N = probs.dim(0), C = probs.dim(1);
    Tensor gl = Tensor::empty({K * N, C}, probs.dtype());
    const T *G = g.data<T>(), *P = probs.data<T>();
    const int32_t* Y = labels.data<int32_t>();
    T* GL = gl.data<T>();
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          GL[(k * N + n) * C + c] = G[k] * (P[n * C + c] - (c == Y[n] ? T(1) : T(0))) / static_cast<T>(N);
    return gl;
  });
}

}  // namespace sv::ref
