// Output shapes of convolution and pooling (torch's formulas), validating the parameters.
#include "autodiff/backend.h"

namespace sv {

namespace {
std::string hw(int a, int b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

int64_t pool_out(int64_t in, int k, int s, int p, int d, bool ceil_mode) {
  int64_t span = in + 2 * p - static_cast<int64_t>(d) * (k - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // torch: the last window must start inside the input or its left padding
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}
}  // namespace

Shape conv2d_out_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  SV_CHECK(x.size() == 4 && w.size() == 4, ShapeError,
           "conv2d: expected input (N,C,H,W) and weight (O,C/groups,kh,kw), got " + shape_str(x) + " and " +
               shape_str(w));
  SV_CHECK(p.stride_h > 0 && p.stride_w > 0, ValueError, "conv2d: stride must be positive, got " + hw(p.stride_h, p.stride_w));
  SV_CHECK(p.dil_h > 0 && p.dil_w > 0, ValueError, "conv2d: dilation must be positive, got " + hw(p.dil_h, p.dil_w));
  SV_CHECK(p.pad_h >= 0 && p.pad_w >= 0, ValueError, "conv2d: padding must be >= 0, got " + hw(p.pad_h, p.pad_w));
  SV_CHECK(p.groups > 0, ValueError, "conv2d: groups must be positive, got " + std::to_string(p.groups));
  SV_CHECK(x[1] % p.groups == 0 && w[0] % p.groups == 0, ShapeError,
           "conv2d: groups = " + std::to_string(p.groups) + " must divide input channels " + std::to_string(x[1]) +
               " and output channels " + std::to_string(w[0]));
  SV_CHECK(w[1] * p.groups == x[1], ShapeError,
           "conv2d: weight " + shape_str(w) + " expects " + std::to_string(w[1] * p.groups) +
               " input channels, input " + shape_str(x) + " has " + std::to_string(x[1]));
  SV_CHECK(w[2] > 0 && w[3] > 0, ShapeError, "conv2d: empty kernel in weight " + shape_str(w));
  int64_t ho = pool_out(x[2], static_cast<int>(w[2]), p.stride_h, p.pad_h, p.dil_h, false);
  int64_t wo = pool_out(x[3], static_cast<int>(w[3]), p.stride_w, p.pad_w, p.dil_w, false);
  SV_CHECK(ho > 0 && wo > 0, ShapeError,
           "conv2d: input " + shape_str(x) + " is smaller than the (dilated) kernel of weight " + shape_str(w));
  return {x[0], w[0], ho, wo};
}

Shape conv2d_grad_shape(const Shape& gy, const Shape& x, const Shape& w, const Conv2dParams& p) {
  Shape ys = conv2d_out_shape(x, w, p);
  SV_CHECK(gy == ys, ShapeError, "conv2d backward: gradient " + shape_str(gy) + " does not match output " + shape_str(ys));
  return ys;
}

Shape pool2d_out_shape(const Shape& x, const Pool2dParams& p, const char* op) {
  std::string o(op);
  SV_CHECK(x.size() == 4, ShapeError, o + ": expected input (N,C,H,W), got " + shape_str(x));
  SV_CHECK(p.kernel_h > 0 && p.kernel_w > 0, ValueError, o + ": kernel must be positive, got " + hw(p.kernel_h, p.kernel_w));
  SV_CHECK(p.stride_h > 0 && p.stride_w > 0, ValueError, o + ": stride must be positive, got " + hw(p.stride_h, p.stride_w));
  SV_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, ValueError,
           o + ": padding " + hw(p.pad_h, p.pad_w) + " must be >= 0 and at most half the kernel " +
               hw(p.kernel_h, p.kernel_w));
  int64_t ho = pool_out(x[2], p.kernel_h, p.stride_h, p.pad_h, 1, p.ceil_mode);
  int64_t wo = pool_out(x[3], p.kernel_w, p.stride_w, p.pad_w, 1, p.ceil_mode);
  SV_CHECK(ho > 0 && wo > 0, ShapeError,
           o + ": input " + shape_str(x) + " is smaller than the kernel " + hw(p.kernel_h, p.kernel_w));
  return {x[0], x[1], ho, wo};
}

int64_t stacked_copies(const Shape& g, const Shape& m, const char* op) {
  const int64_t gn = shape_numel(g), mn = shape_numel(m);
  const int64_t K = mn > 0 && gn % mn == 0 ? gn / mn : 1;
  SV_CHECK((mn > 0 ? gn % mn == 0 : gn == 0) && g == fold_k(m, K), ShapeError,
           std::string(op) + ": gradient " + shape_str(g) + " is not " + shape_str(m) + " stacked K times");
  return K;
}

}  // namespace sv
