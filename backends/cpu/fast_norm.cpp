// Fast per-channel kernels: channel sums, the eval-mode batchnorm affine map, train-mode
// batchnorm forward and backward. The same arithmetic as the reference (norm_ref.cpp),
// with channels (or (n, c) planes) split over threads.
#include <algorithm>
#include <cmath>

#include "autodiff/channel_view.h"
#include "autodiff/dispatch.h"
#include "backends/cpu/fast.h"
#include "backends/cpu/fast_parallel.h"
#include "backends/reference/reference.h"

namespace sv::fast {

Tensor channel_sum(const Parallel& par, const Tensor& gy) {
  const ChannelView v = channel_view(gy, "channel_sum");
  return dispatch_float(gy, "channel_sum", [&](auto t) {
    using T = decltype(t);
    Tensor s = par.empty({v.C}, gy.dtype());
    const T* G = gy.data<T>();
    T* S = s.data<T>();
    parallel_for(par, v.C, par.elements_grain(v.N * v.R), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double acc = 0;
        for (int64_t n = 0; n < v.N; ++n) {
          const T* p = G + (n * v.C + c) * v.R;
          for (int64_t r = 0; r < v.R; ++r) acc += p[r];
        }
        S[c] = static_cast<T>(acc);
      }
    });
    return s;
  });
}

Tensor channel_affine(const Parallel& par, const Tensor& x, const Tensor& a, const Tensor& b) {
  const ChannelView v = channel_view(x, "channel_affine");
  return dispatch_float(x, "channel_affine", [&](auto t) {
    using T = decltype(t);
    Tensor y = par.empty(x.shape(), x.dtype());
    const T *X = x.data<T>(), *A = a.data<T>(), *B = b.defined() ? b.data<T>() : nullptr;
    T* Y = y.data<T>();
    const int64_t grain = par.elements_grain(v.R);
    parallel_for(par, v.N * v.C, grain, [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl) {
        const int64_t c = pl % v.C;
        const T s = A[c], o = B ? B[c] : T(0);
        const T* xp = X + pl * v.R;
        T* yp = Y + pl * v.R;
        for (int64_t r = 0; r < v.R; ++r) yp[r] = xp[r] * s + o;
      }
    });
    return y;
  });
}

Tensor batchnorm_train_forward(const Parallel& par, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               double eps, Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  const ChannelView v = channel_view(x, "batchnorm2d");
  return dispatch_float(x, "batchnorm2d", [&](auto t) {
    using T = decltype(t);
    const double M = static_cast<double>(v.N * v.R);
    mean = par.empty({v.C}, x.dtype());
    var_unbiased = par.empty({v.C}, x.dtype());
    invstd = par.empty({v.C}, x.dtype());
    xhat = par.empty(x.shape(), x.dtype());
    Tensor y = par.empty(x.shape(), x.dtype());
    const T *X = x.data<T>(), *Gm = gamma.data<T>(), *Bt = beta.data<T>();
    T *XH = xhat.data<T>(), *Y = y.data<T>();
    parallel_for(par, v.C, par.elements_grain(v.N * v.R), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0, ss = 0;
        for (int64_t n = 0; n < v.N; ++n)
          for (int64_t r = 0; r < v.R; ++r) s += X[(n * v.C + c) * v.R + r];
        const double mu = s / M;
        for (int64_t n = 0; n < v.N; ++n)
          for (int64_t r = 0; r < v.R; ++r) {
            const double d = X[(n * v.C + c) * v.R + r] - mu;
            ss += d * d;
          }
        const double is = 1.0 / std::sqrt(ss / M + eps);
        mean.data<T>()[c] = static_cast<T>(mu);
        var_unbiased.data<T>()[c] = static_cast<T>(ss / (M - 1));
        invstd.data<T>()[c] = static_cast<T>(is);
        for (int64_t n = 0; n < v.N; ++n)
          for (int64_t r = 0; r < v.R; ++r) {
            const int64_t i = (n * v.C + c) * v.R + r;
            const T xh = static_cast<T>((X[i] - mu) * is);
            XH[i] = xh;
            Y[i] = Gm[c] * xh + Bt[c];
          }
      }
    });
    return y;
  });
}

Tensor batchnorm_train_backward(const Parallel& par, const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                const Tensor& invstd, int64_t K, Tensor& ggamma, Tensor& gbeta) {
  ref::check_tiled(gy, xhat, K, "batchnorm2d backward");
  const ChannelView v = channel_view(xhat, "batchnorm2d backward");
  return dispatch_float(gy, "batchnorm2d", [&](auto t) {
    using T = decltype(t);
    const double M = static_cast<double>(v.N * v.R);
    const int64_t block = xhat.numel();
    Tensor gx = par.empty(gy.shape(), gy.dtype());
    ggamma = par.zeros({v.C}, gy.dtype());
    gbeta = par.zeros({v.C}, gy.dtype());
    const T *G = gy.data<T>(), *XH = xhat.data<T>(), *Gm = gamma.data<T>(), *IS = invstd.data<T>();
    T *GX = gx.data<T>(), *GG = ggamma.data<T>(), *GB = gbeta.data<T>();
    parallel_for(par, v.C, par.elements_grain(K * v.N * v.R), [&](int64_t c0, int64_t c1) {
      for (int64_t k = 0; k < K; ++k)
        for (int64_t c = c0; c < c1; ++c) {
          const T* Gk = G + k * block;
          double sg = 0, sgx = 0;
          for (int64_t n = 0; n < v.N; ++n)
            for (int64_t r = 0; r < v.R; ++r) {
              const int64_t i = (n * v.C + c) * v.R + r;
              sg += Gk[i];
              sgx += Gk[i] * XH[i];
            }
          GG[c] += static_cast<T>(sgx);
          GB[c] += static_cast<T>(sg);
          const double f = static_cast<double>(Gm[c]) * IS[c] / M;
          T* GXk = GX + k * block;
          for (int64_t n = 0; n < v.N; ++n)
            for (int64_t r = 0; r < v.R; ++r) {
              const int64_t i = (n * v.C + c) * v.R + r;
              GXk[i] = static_cast<T>(f * (M * Gk[i] - sg - XH[i] * sgx));
            }
        }
    });
    return gx;
  });
}

}  // namespace sv::fast
