// Fast pooling (max, average, adaptive average), forward and backward side by side.
// The reference arithmetic (pool_ref.cpp) with (n, c) planes split over threads; each
// plane is written by one thread only. Window bounds are clamped once per output
// instead of testing every tap.
#include <algorithm>
#include <cmath>
#include <limits>

#include "autodiff/dispatch.h"
#include "backends/cpu/fast.h"
#include "backends/cpu/fast_parallel.h"
#include "backends/reference/pool_windows.h"

namespace sv::fast {

namespace {

// Calls f(p0, p1) over ranges of planes, split over threads by plane size.
template <class F>
void for_planes(const Parallel& par, int64_t planes, int64_t plane_size, F&& f) {
  parallel_for(par, planes, par.elements_grain(plane_size), f);
}

// [lo, hi) of the input rows (or columns) inside the window of output o, clamped to [0, in).
struct Range {
  int64_t lo, hi;
};
Range window(int64_t o, int stride, int pad, int kernel, int64_t in) {
  const int64_t start = o * stride - pad;
  return {std::max<int64_t>(start, 0), std::min<int64_t>(start + kernel, in)};
}
}  // namespace

Tensor maxpool_forward(const Parallel& par, const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  const Shape ys = pool2d_out_shape(x.shape(), p, "maxpool2d");
  return dispatch_float(x, "maxpool2d", [&](auto t) {
    using T = decltype(t);
    const int64_t planes = ys[0] * ys[1], H = x.dim(2), W = x.dim(3), Ho = ys[2], Wo = ys[3];
    Tensor y = par.empty(ys, x.dtype());
    indices = par.empty(ys, DType::I32);
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    int32_t* I = indices.data<int32_t>();
    for_planes(par, planes, H * W, [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl) {
        const T* xp = X + pl * H * W;
        for (int64_t oh = 0; oh < Ho; ++oh) {
          const Range rh = window(oh, p.stride_h, p.pad_h, p.kernel_h, H);
          for (int64_t ow = 0; ow < Wo; ++ow) {
            const Range rw = window(ow, p.stride_w, p.pad_w, p.kernel_w, W);
            T best = -std::numeric_limits<T>::infinity();
            int64_t arg = -1;
            for (int64_t ih = rh.lo; ih < rh.hi; ++ih)
              for (int64_t iw = rw.lo; iw < rw.hi; ++iw) {
                const T v = xp[ih * W + iw];
                if (arg < 0 || v > best || std::isnan(v)) {  // first max wins; NaN propagates
                  best = v;
                  arg = ih * W + iw;
                }
              }
            Y[(pl * Ho + oh) * Wo + ow] = best;
            I[(pl * Ho + oh) * Wo + ow] = static_cast<int32_t>(arg);
          }
        }
      }
    });
    return y;
  });
}

Tensor maxpool_backward(const Parallel& par, const Tensor& gy, const Tensor& indices, const Shape& x_shape,
                        int64_t K) {
  check_stacked(gy.shape(), indices.shape(), K, "maxpool2d backward");
  return dispatch_float(gy, "maxpool2d", [&](auto t) {
    using T = decltype(t);
    Tensor gx = par.zeros(x_shape, gy.dtype());
    const int64_t plane_out = gy.dim(2) * gy.dim(3), plane_in = x_shape[2] * x_shape[3];
    const int64_t planes = gy.numel() / plane_out, idx_planes = indices.numel() / plane_out;
    const T* G = gy.data<T>();
    const int32_t* I = indices.data<int32_t>();
    T* GX = gx.data<T>();
    for_planes(par, planes, plane_in, [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl) {
        const int32_t* ip = I + (pl % idx_planes) * plane_out;
        const T* gp = G + pl * plane_out;
        T* gxp = GX + pl * plane_in;
        for (int64_t j = 0; j < plane_out; ++j) gxp[ip[j]] += gp[j];
      }
    });
    return gx;
  });
}

Tensor avgpool_forward(const Parallel& par, const Tensor& x, const Pool2dParams& p) {
  const Shape ys = pool2d_out_shape(x.shape(), p, "avgpool2d");
  return dispatch_float(x, "avgpool2d", [&](auto t) {
    using T = decltype(t);
    const int64_t planes = ys[0] * ys[1], H = x.dim(2), W = x.dim(3), Ho = ys[2], Wo = ys[3];
    Tensor y = par.empty(ys, x.dtype());
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    for_planes(par, planes, H * W, [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl)
        for (int64_t oh = 0; oh < Ho; ++oh)
          for (int64_t ow = 0; ow < Wo; ++ow) {
            const AvgWindow a = avg_window(oh, ow, H, W, p);
            T s = 0;
            for (int64_t ih = a.h0; ih < a.h1; ++ih)
              for (int64_t iw = a.w0; iw < a.w1; ++iw) s += X[(pl * H + ih) * W + iw];
            Y[(pl * Ho + oh) * Wo + ow] = s / static_cast<T>(a.divisor);
          }
    });
    return y;
  });
}

Tensor avgpool_backward(const Parallel& par, const Tensor& gy, const Shape& x_shape, const Pool2dParams& p) {
  const Shape ys = pool2d_out_shape(x_shape, p, "avgpool2d");
  SV_CHECK(gy.shape() == ys, ShapeError,
           "avgpool2d backward: gradient " + shape_str(gy.shape()) + " does not match output " + shape_str(ys));
  return dispatch_float(gy, "avgpool2d", [&](auto t) {
    using T = decltype(t);
    const int64_t planes = ys[0] * ys[1], H = x_shape[2], W = x_shape[3], Ho = ys[2], Wo = ys[3];
    Tensor gx = par.zeros(x_shape, gy.dtype());
    const T* G = gy.data<T>();
    T* GX = gx.data<T>();
    for_planes(par, planes, H * W, [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl)
        for (int64_t oh = 0; oh < Ho; ++oh)
          for (int64_t ow = 0; ow < Wo; ++ow) {
            const AvgWindow a = avg_window(oh, ow, H, W, p);
            const T g = G[(pl * Ho + oh) * Wo + ow] / static_cast<T>(a.divisor);
            for (int64_t ih = a.h0; ih < a.h1; ++ih)
              for (int64_t iw = a.w0; iw < a.w1; ++iw) GX[(pl * H + ih) * W + iw] += g;
          }
    });
    return gx;
  });
}

Tensor adaptive_avgpool_forward(const Parallel& par, const Tensor& x, int out_h, int out_w) {
  return dispatch_float(x, "adaptive_avgpool2d", [&](auto t) {
    using T = decltype(t);
    const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
    Tensor y = par.empty({x.dim(0), x.dim(1), out_h, out_w}, x.dtype());
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    for_planes(par, planes, H * W, [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl)
        for (int64_t oh = 0; oh < out_h; ++oh)
          for (int64_t ow = 0; ow < out_w; ++ow) {
            const int64_t h0 = bin_start(oh, H, out_h), h1 = bin_end(oh, H, out_h);
            const int64_t w0 = bin_start(ow, W, out_w), w1 = bin_end(ow, W, out_w);
            T s = 0;
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) s += X[(pl * H + ih) * W + iw];
            Y[(pl * out_h + oh) * out_w + ow] = s / static_cast<T>((h1 - h0) * (w1 - w0));
          }
    });
    return y;
  });
}

Tensor adaptive_avgpool_backward(const Parallel& par, const Tensor& gy, const Shape& x_shape) {
  check_ndim(gy, 4, "adaptive_avgpool2d backward", "gradient");
  SV_CHECK(
      gy.dim(0) == x_shape[0] && gy.dim(1) == x_shape[1], ShapeError,
      "adaptive_avgpool2d backward: gradient " + shape_str(gy.shape()) + " does not match input " + shape_str(x_shape));
  return dispatch_float(gy, "adaptive_avgpool2d", [&](auto t) {
    using T = decltype(t);
    const int64_t planes = x_shape[0] * x_shape[1], H = x_shape[2], W = x_shape[3];
    const int64_t out_h = gy.dim(2), out_w = gy.dim(3);
    Tensor gx = par.zeros(x_shape, gy.dtype());
    const T* G = gy.data<T>();
    T* GX = gx.data<T>();
    for_planes(par, planes, H * W, [&](int64_t p0, int64_t p1) {
      for (int64_t pl = p0; pl < p1; ++pl)
        for (int64_t oh = 0; oh < out_h; ++oh)
          for (int64_t ow = 0; ow < out_w; ++ow) {
            const int64_t h0 = bin_start(oh, H, out_h), h1 = bin_end(oh, H, out_h);
            const int64_t w0 = bin_start(ow, W, out_w), w1 = bin_end(ow, W, out_w);
            const T g = G[(pl * out_h + oh) * out_w + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) GX[(pl * H + ih) * W + iw] += g;
          }
    });
    return gx;
  });
}

}  // namespace sv::fast
