// im2col / col2im for the fast CPU convolution (see fast_im2col.h).
#include "backends/cpu/fast_im2col.h"

#include <algorithm>

namespace sv::fast {

ConvGeom conv_geom(const Shape& x, const Shape& w, const Conv2dParams& p) {
  Shape y = conv2d_out_shape(x, w, p);
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], p.groups, x[1] / p.groups, w[0] / p.groups, p};
}

ConvGeom band_geom(const ConvGeom& g, int64_t oh0, int64_t oh1) {
  ConvGeom b = g;
  b.Ho = oh1 - oh0;
  b.p.pad_h = static_cast<int>(g.p.pad_h - oh0 * g.p.stride_h);
  return b;
}

namespace {
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The outputs ow in [lo, hi) whose input column ow*stride + off lies inside [0, W).
struct Span {
  int64_t lo, hi;
};
Span valid_span(int64_t off, int64_t stride, int64_t W, int64_t Wo) {
  int64_t lo = std::clamp<int64_t>(ceil_div(-off, stride), 0, Wo);
  int64_t hi = std::min<int64_t>(Wo, floor_div(W - 1 - off, stride) + 1);
  return {lo, std::max(lo, hi)};
}

// Calls f(r, c, oh, ih, span, off) for each row r in [r0, r1) and output row oh whose
// input row ih is inside the image; g(r, oh) for output rows that fall in the padding.
template <class Inside, class Outside>
void for_each_row(const ConvGeom& g, int64_t r0, int64_t r1, Inside&& f, Outside&& pad) {
  const int64_t KK = g.KH * g.KW;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t c = r / KK, kh = (r / g.KW) % g.KH, kw = r % g.KW;
    const int64_t off = kw * g.p.dil_w - g.p.pad_w;
    const Span s = valid_span(off, g.p.stride_w, g.W, g.Wo);
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
      const int64_t ih = oh * g.p.stride_h - g.p.pad_h + kh * g.p.dil_h;
      if (ih < 0 || ih >= g.H)
        pad(r, oh);
      else
        f(r, c, oh, ih, s, off);
    }
  }
}
}  // namespace

template <class T>
void im2col(const T* x, const ConvGeom& g, T* col, int64_t ldcol, int64_t r0, int64_t r1) {
  const int64_t sw = g.p.stride_w, Wo = g.Wo;
  for_each_row(
      g, r0, r1,
      [&](int64_t r, int64_t c, int64_t oh, int64_t ih, Span s, int64_t off) {
        T* __restrict dst = col + r * ldcol + oh * Wo;
        const T* __restrict src = x + (c * g.H + ih) * g.W;  // input column of ow: ow*sw + off
        for (int64_t ow = 0; ow < s.lo; ++ow) dst[ow] = T(0);
        if (sw == 1)
          for (int64_t ow = s.lo; ow < s.hi; ++ow) dst[ow] = src[ow + off];
        else
          for (int64_t ow = s.lo; ow < s.hi; ++ow) dst[ow] = src[ow * sw + off];
        for (int64_t ow = s.hi; ow < Wo; ++ow) dst[ow] = T(0);
      },
      [&](int64_t r, int64_t oh) { std::fill_n(col + r * ldcol + oh * Wo, Wo, T(0)); });
}

template <class T>
void col2im(const T* col, int64_t ldcol, const ConvGeom& g, T* gx, int64_t c0, int64_t c1) {
  const int64_t sw = g.p.stride_w, Wo = g.Wo, KK = g.KH * g.KW;
  for_each_row(
      g, c0 * KK, c1 * KK,
      [&](int64_t r, int64_t c, int64_t oh, int64_t ih, Span s, int64_t off) {
        const T* __restrict src = col + r * ldcol + oh * Wo;
        T* __restrict dst = gx + (c * g.H + ih) * g.W;
        if (sw == 1)
          for (int64_t ow = s.lo; ow < s.hi; ++ow) dst[ow + off] += src[ow];
        else
          for (int64_t ow = s.lo; ow < s.hi; ++ow) dst[ow * sw + off] += src[ow];
      },
      [](int64_t, int64_t) {});
}

template void im2col<float>(const float*, const ConvGeom&, float*, int64_t, int64_t, int64_t);
template void im2col<double>(const double*, const ConvGeom&, double*, int64_t, int64_t, int64_t);
template void col2im<float>(const float*, int64_t, const ConvGeom&, float*, int64_t, int64_t);
template void col2im<double>(const double*, int64_t, const ConvGeom&, double*, int64_t, int64_t);

}  // namespace sv::fast
