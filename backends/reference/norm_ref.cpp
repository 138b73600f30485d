// Reference per-channel kernels: channel sums, the eval-mode batchnorm affine map, and
// train-mode batchnorm forward and backward side by side.
#include <cmath>

#include "autodiff/channel_view.h"
#include "autodiff/dispatch.h"
#include "backends/reference/reference.h"

namespace sv::ref {

Tensor channel_sum(const Tensor& gy) {
  ChannelView v = channel_view(gy, "channel_sum");
  return dispatch_float(gy, "channel_sum", [&](auto t) {
    using T = decltype(t);
    Tensor s = Tensor::empty({v.C}, gy.dtype());
    const T* G = gy.data<T>();
    for (int64_t c = 0; c < v.C; ++c) {
      double acc = 0;
      for (int64_t n = 0; n < v.N; ++n)
        for (int64_t r = 0; r < v.R; ++r) acc += G[(n * v.C + c) * v.R + r];
      s.data<T>()[c] = static_cast<T>(acc);
    }
    return s;
  });
}

Tensor channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  ChannelView v = channel_view(x, "channel_affine");
  return dispatch_float(x, "channel_affine", [&](auto t) {
    using T = decltype(t);
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    const T *X = x.data<T>(), *A = a.data<T>(), *B = b.defined() ? b.data<T>() : nullptr;
    T* Y = y.data<T>();
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t c = 0; c < v.C; ++c)
        for (int64_t r = 0; r < v.R; ++r) {
          int64_t i = (n * v.C + c) * v.R + r;
          Y[i] = X[i] * A[c] + (B ? B[c] : T(0));
        }
    return y;
  });
}

Tensor batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& mean,
                               Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  ChannelView v = channel_view(x, "batchnorm2d");
  return dispatch_float(x, "batchnorm2d", [&](auto t) {
    using T = decltype(t);
    const double M = static_cast<double>(v.N * v.R);
    mean = Tensor::empty({v.C}, x.dtype());
    var_unbiased = Tensor::empty({v.C}, x.dtype());
    invstd = Tensor::empty({v.C}, x.dtype());
    xhat = Tensor::empty(x.shape(), x.dtype());
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    const T *X = x.data<T>(), *Gm = gamma.data<T>(), *Bt = beta.data<T>();
    for (int64_t c = 0; c < v.C; ++c) {
      double s = 0, ss = 0;
      for (int64_t n = 0; n < v.N; ++n)
        for (int64_t r = 0; r < v.R; ++r) s += X[(n * v.C + c) * v.R + r];
      double mu = s / M;
      for (int64_t n = 0; n < v.N; ++n)
        for (int64_t r = 0; r < v.R; ++r) {
          double d = X[(n * v.C + c) * v.R + r] - mu;
          ss += d * d;
        }
      double var = ss / M, is = 1.0 / std::sqrt(var + eps);
      mean.data<T>()[c] = static_cast<T>(mu);
      var_unbiased.data<T>()[c] = static_cast<T>(ss / (M - 1));
      invstd.data<T>()[c] = static_cast<T>(is);
      for (int64_t n = 0; n < v.N; ++n)
        for (int64_t r = 0; r < v.R; ++r) {
          int64_t i = (n * v.C + c) * v.R + r;
          T xh = static_cast<T>((X[i] - mu) * is);
          xhat.data<T>()[i] = xh;
          y.data<T>()[i] = Gm[c] * xh + Bt[c];
        }
    }
    return y;
  });
}

Tensor batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma, const Tensor& invstd,
                                int64_t K, Tensor& ggamma, Tensor& gbeta) {
  check_tiled(gy, xhat, K, "batchnorm2d backward");
  ChannelView v = channel_view(xhat, "batchnorm2d backward");
  return dispatch_float(gy, "batchnorm2d", [&](auto t) {
    using T = decltype(t);
    const double M = static_cast<double>(v.N * v.R);
    const int64_t block = xhat.numel();
    Tensor gx = Tensor::empty(gy.shape(), gy.dtype());
    ggamma = Tensor::zeros({v.C}, gy.dtype());
    gbeta = Tensor::zeros({v.C}, gy.dtype());
    const T *G = gy.data<T>(), *XH = xhat.data<T>(), *Gm = gamma.data<T>(), *IS = invstd.data<T>();
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < v.C; ++c) {
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < v.N; ++n)
          for (int64_t r = 0; r < v.R; ++r) {
            int64_t i = (n * v.C + c) * v.R + r;
            sg += G[k * block + i];
            sgx += G[k * block + i] * XH[i];
          }
        ggamma.data<T>()[c] += static_cast<T>(sgx);
        gbeta.data<T>()[c] += static_cast<T>(sg);
        const double f = static_cast<double>(Gm[c]) * IS[c] / M;
        for (int64_t n = 0; n < v.N; ++n)
          for (int64_t r = 0; r < v.R; ++r) {
            int64_t i = (n * v.C + c) * v.R + r;
            gx.data<T>()[k * block + i] = static_cast<T>(f * (M * G[k * block + i] - sg - XH[i] * sgx));
          }
      }
    return gx;
  });
}

}  // namespace sv::ref
