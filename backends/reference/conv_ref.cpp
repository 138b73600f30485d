// Reference convolution: direct loops, forward and both backward passes side by side.
#include "autodiff/dispatch.h"
#include "backends/reference/reference.h"

namespace sv::ref {

namespace {
// Calls f(n, o, c, oh, ow, ih, iw, kh, kw) for every valid (output, tap) pair, c the
// input channel in the weight's group-local numbering.
template <class F>
void for_each_tap(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p, F&& f) {
  const int64_t N = y[0], O = y[1], Ho = y[2], Wo = y[3], H = x[2], W = x[3];
  const int64_t Cg = w[1], KH = w[2], KW = w[3], Og = O / p.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow)
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dil_h;
                int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dil_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                int64_t ci = (o / Og) * Cg + c;
                f(n, o, c, ci, oh, ow, ih, iw, kh, kw);
              }
}
}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  Shape ys = conv2d_out_shape(x.shape(), w.shape(), p);
  return dispatch_float(x, "conv2d", [&](auto t) {
    using T = decltype(t);
    Tensor y = Tensor::zeros(ys, DType::F64);  // accumulated in double, rounded once at the end
    const T *X = x.data<T>(), *Wt = w.data<T>();
    double* Y = y.data<double>();
    const Shape &xs = x.shape(), &ws = w.shape();
    for_each_tap(xs, ws, ys, p,
                 [&](int64_t n, int64_t o, int64_t c, int64_t ci, int64_t oh, int64_t ow, int64_t ih, int64_t iw,
                     int64_t kh, int64_t kw) {
                   Y[((n * ys[1] + o) * ys[2] + oh) * ys[3] + ow] +=
                       static_cast<double>(X[((n * xs[1] + ci) * xs[2] + ih) * xs[3] + iw]) *
                       Wt[((o * ws[1] + c) * ws[2] + kh) * ws[3] + kw];
                 });
    if (b.defined()) {
      const T* B = b.data<T>();
      for (int64_t i = 0; i < y.numel(); ++i) Y[i] += B[(i / (ys[2] * ys[3])) % ys[1]];
    }
    return y.to(x.dtype());
  });
}

Tensor conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p) {
  const Shape ys = conv2d_grad_shape(gy.shape(), x_shape, w.shape(), p);
  return dispatch_float(gy, "conv2d", [&](auto t) {
    using T = decltype(t);
    Tensor gx = Tensor::zeros(x_shape, DType::F64);  // accumulated in double, rounded once at the end
    const T *G = gy.data<T>(), *Wt = w.data<T>();
    double* GX = gx.data<double>();
    const Shape& ws = w.shape();
    const Shape& xs = x_shape;
    for_each_tap(xs, ws, ys, p,
                 [&](int64_t n, int64_t o, int64_t c, int64_t ci, int64_t oh, int64_t ow, int64_t ih, int64_t iw,
                     int64_t kh, int64_t kw) {
                   GX[((n * xs[1] + ci) * xs[2] + ih) * xs[3] + iw] +=
                       static_cast<double>(G[((n * ys[1] + o) * ys[2] + oh) * ys[3] + ow]) *
                       Wt[((o * ws[1] + c) * ws[2] + kh) * ws[3] + kw];
                 });
    return gx.to(gy.dtype());
  });
}

Tensor conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape, const Conv2dParams& p) {
  const Shape ys = conv2d_grad_shape(gy.shape(), x.shape(), w_shape, p);
  return dispatch_float(x, "conv2d", [&](auto t) {
    using T = decltype(t);
    Tensor gw = Tensor::zeros(w_shape, DType::F64);  // accumulated in double, rounded once at the end
    const T *G = gy.data<T>(), *X = x.data<T>();
    double* GW = gw.data<double>();
    const Shape& xs = x.shape();
    const Shape& ws = w_shape;
    for_each_tap(xs, ws, ys, p,
                 [&](int64_t n, int64_t o, int64_t c, int64_t ci, int64_t oh, int64_t ow, int64_t ih, int64_t iw,
                     int64_t kh, int64_t kw) {
                   GW[((o * ws[1] + c) * ws[2] + kh) * ws[3] + kw] +=
                       static_cast<double>(G[((n * ys[1] + o) * ys[2] + oh) * ys[3] + ow]) *
                       X[((n * xs[1] + ci) * xs[2] + ih) * xs[3] + iw];
                 });
    return gw.to(x.dtype());
  });
}

}  // namespace sv::ref
