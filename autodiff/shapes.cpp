// Every op's output-shape rule (autodiff/shapes.h): convolution and pooling by torch's
// formulas, validating the parameters; K-stacked operands checked exactly.
#include "autodiff/shapes.h"

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

void check_stacked(const Shape& g, const Shape& m, int64_t K, const char* op) {
  SV_CHECK(K >= 1, ValueError, std::string(op) + ": K must be >= 1, got " + std::to_string(K));
  SV_CHECK(g == fold_k(m, K), ShapeError,
           std::string(op) + ": gradient " + shape_str(g) + " is not " + shape_str(m) + " stacked K = " +
               std::to_string(K) + " times " + shape_str(fold_k(m, K)));
}

namespace shape_rule {

namespace {
void same(const Shape& a, const Shape& b, const char* op) {
  SV_CHECK(a == b, ShapeError, std::string(op) + ": shapes differ, " + shape_str(a) + " and " + shape_str(b));
}
// x (N,C,H,W) or (N,C); v (C)
void per_channel(const Shape& x, const Shape& v, const char* op, const char* what) {
  SV_CHECK(x.size() == 4 || x.size() == 2, ShapeError,
           std::string(op) + ": input must be (N,C,H,W) or (N,C), got " + shape_str(x));
  SV_CHECK(v.size() == 1 && v[0] == x[1], ShapeError,
           std::string(op) + ": " + what + " " + shape_str(v) + " does not match the " + std::to_string(x[1]) +
               " channels of " + shape_str(x));
}
void ndim(const Shape& s, size_t n, const char* op, const char* what) {
  SV_CHECK(s.size() == n, ShapeError,
           std::string(op) + ": " + what + " must have " + std::to_string(n) + " dimensions, got " + shape_str(s));
}
void positive_k(int64_t K, const char* op) {
  SV_CHECK(K >= 1, ValueError, std::string(op) + ": K must be >= 1, got " + std::to_string(K));
}
}  // namespace

Shape add(const Shape& a, const Shape& b) {
  same(a, b, "add");
  return a;
}
Shape axpy(const Shape& y, const Shape& x) {
  SV_CHECK(shape_numel(y) == shape_numel(x), ShapeError,
           "axpy: y " + shape_str(y) + " and x " + shape_str(x) + " differ in size");
  return y;
}
Shape scale(const Shape& x) { return x; }
Shape mul_tiled(const Shape& g, const Shape& m, int64_t K) {
  check_stacked(g, m, K, "mul");
  return g;
}
Shape interpolate(const Shape& x0, const Shape& x1, int64_t T) {
  same(x0, x1, "interpolate");
  SV_CHECK(!x0.empty(), ShapeError, "interpolate: inputs must have a batch dimension");
  return fold_k(x0, T);
}
Shape sum_all(const Shape&) { return {}; }
Shape sum_blocks(const Shape& x, int64_t K) {
  positive_k(K, "sum blocks");
  SV_CHECK(!x.empty() && x[0] % K == 0, ShapeError,
           "sum blocks: " + shape_str(x) + " is not K = " + std::to_string(K) + " blocks along dimension 0");
  return {K};
}
Shape broadcast_blocks(const Shape& g, int64_t M, int64_t K) {
  positive_k(K, "broadcast blocks");
  SV_CHECK(g == Shape{K}, ShapeError,
           "broadcast blocks: expected one value per block (" + std::to_string(K) + "), got " + shape_str(g));
  SV_CHECK(M >= 0, ValueError, "broadcast blocks: block size must be >= 0, got " + std::to_string(M));
  return {K * M};
}

Shape conv2d(const Shape& x, const Shape& w, const Shape* bias, const Conv2dParams& p) {
  const Shape y = conv2d_out_shape(x, w, p);
  SV_CHECK(!bias || *bias == Shape{w[0]}, ShapeError,
           "conv2d: bias " + shape_str(bias ? *bias : Shape{}) + " does not match weight " + shape_str(w));
  return y;
}
Shape conv2d_backward_data(const Shape& gy, const Shape& w, const Shape& x, const Conv2dParams& p, int64_t K) {
  positive_k(K, "conv2d backward data");
  const Shape ys = fold_k(conv2d_out_shape(x, w, p), K);
  SV_CHECK(gy == ys, ShapeError,
           "conv2d backward data: gradient " + shape_str(gy) + " does not match the output " + shape_str(ys) +
               " of input " + shape_str(x) + " and weight " + shape_str(w) + " stacked K = " + std::to_string(K) +
               " times");
  return fold_k(x, K);
}
Shape conv2d_backward_filter(const Shape& x, const Shape& gy, const Shape& w, const Conv2dParams& p) {
  const Shape ys = conv2d_out_shape(x, w, p);
  SV_CHECK(gy == ys, ShapeError,
           "conv2d backward filter: gradient " + shape_str(gy) + " does not match the output " + shape_str(ys) +
               " of input " + shape_str(x) + " and weight " + shape_str(w));
  return w;
}
Shape channel_sum(const Shape& gy) {
  SV_CHECK(gy.size() == 4 || gy.size() == 2, ShapeError,
           "channel sum: expected (N,C,H,W) or (N,C), got " + shape_str(gy));
  return {gy[1]};
}

Shape channel_affine(const Shape& x, const Shape& a, const Shape* b) {
  per_channel(x, a, "channel affine", "scale");
  if (b) per_channel(x, *b, "channel affine", "shift");
  return x;
}
Shape batchnorm_train(const Shape& x, const Shape& gamma, const Shape& beta) {
  per_channel(x, gamma, "batchnorm2d", "weight");
  per_channel(x, beta, "batchnorm2d", "bias");
  return x;
}
Shape batchnorm_train_backward(const Shape& gy, const Shape& xhat, const Shape& gamma, const Shape& invstd,
                               int64_t K) {
  check_stacked(gy, xhat, K, "batchnorm2d backward");
  per_channel(xhat, gamma, "batchnorm2d backward", "weight");
  per_channel(xhat, invstd, "batchnorm2d backward", "invstd");
  return gy;
}

Shape relu(const Shape& x) { return x; }
Shape add_relu(const Shape& a, const Shape& b) {
  same(a, b, "add + relu");
  return a;
}
Shape relu_backward(const Shape& gy, const Shape& y, int64_t K) {
  check_stacked(gy, y, K, "relu backward");
  return gy;
}

Shape maxpool(const Shape& x, const Pool2dParams& p) { return pool2d_out_shape(x, p, "maxpool2d"); }
Shape maxpool_backward(const Shape& gy, const Shape& indices, const Shape& x, int64_t K) {
  ndim(x, 4, "maxpool2d backward", "input");
  ndim(indices, 4, "maxpool2d backward", "indices");
  check_stacked(gy, indices, K, "maxpool2d backward");
  SV_CHECK(indices[0] == x[0] && indices[1] == x[1], ShapeError,
           "maxpool2d backward: indices " + shape_str(indices) + " do not belong to input " + shape_str(x));
  return fold_k(x, K);
}
Shape avgpool(const Shape& x, const Pool2dParams& p) { return pool2d_out_shape(x, p, "avgpool2d"); }
Shape avgpool_backward(const Shape& gy, const Shape& x, const Pool2dParams& p, int64_t K) {
  check_stacked(gy, pool2d_out_shape(x, p, "avgpool2d backward"), K, "avgpool2d backward");
  return fold_k(x, K);
}
Shape adaptive_avgpool(const Shape& x, int out_h, int out_w) {
  ndim(x, 4, "adaptive_avgpool2d", "input");
  SV_CHECK(out_h > 0 && out_w > 0, ValueError,
           "adaptive_avgpool2d: output size must be positive, got (" + std::to_string(out_h) + ", " +
               std::to_string(out_w) + ")");
  SV_CHECK(x[2] > 0 && x[3] > 0, ShapeError, "adaptive_avgpool2d: empty input " + shape_str(x));
  return {x[0], x[1], out_h, out_w};
}
Shape adaptive_avgpool_backward(const Shape& gy, const Shape& x, int64_t K) {
  ndim(x, 4, "adaptive_avgpool2d backward", "input");
  ndim(gy, 4, "adaptive_avgpool2d backward", "gradient");
  check_stacked(gy, {x[0], x[1], gy[2], gy[3]}, K, "adaptive_avgpool2d backward");
  return fold_k(x, K);
}

Shape linear(const Shape& x, const Shape& w, const Shape* bias) {
  ndim(x, 2, "linear", "input");
  ndim(w, 2, "linear", "weight");
  SV_CHECK(x[1] == w[1], ShapeError,
           "linear: input " + shape_str(x) + " does not match weight " + shape_str(w) + " (in_features " +
               std::to_string(w[1]) + ")");
  SV_CHECK(!bias || *bias == Shape{w[0]}, ShapeError,
           "linear: bias " + shape_str(bias ? *bias : Shape{}) + " does not match weight " + shape_str(w));
  return {x[0], w[0]};
}
Shape linear_backward_data(const Shape& gy, const Shape& w, const Shape& x, int64_t K) {
  check_stacked(gy, linear(x, w, nullptr), K, "linear backward data");
  return fold_k(x, K);
}
Shape linear_backward_weight(const Shape& x, const Shape& gy) {
  ndim(x, 2, "linear backward weight", "input");
  ndim(gy, 2, "linear backward weight", "gradient");
  SV_CHECK(gy[0] == x[0], ShapeError,
           "linear backward weight: gradient " + shape_str(gy) + " and input " + shape_str(x) +
               " differ in batch size");
  return {gy[1], x[1]};
}

Shape softmax_xent(const Shape& logits, const Shape& labels) {
  ndim(logits, 2, "softmax cross-entropy", "logits");
  SV_CHECK(labels == Shape{logits[0]}, ShapeError,
           "softmax cross-entropy: labels " + shape_str(labels) + " do not match logits " + shape_str(logits));
  return {};
}
Shape softmax_xent_backward(const Shape& g, const Shape& probs, const Shape& labels, int64_t K) {
  softmax_xent(probs, labels);
  check_stacked(g, {}, K, "softmax cross-entropy backward");
  return fold_k(probs, K);
}

}  // namespace shape_rule

}  // namespace sv
