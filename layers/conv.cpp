// conv2d: forward and backward side by side.
// Backward uses: x (for the filter gradient) and w (for the data gradient).
#include "layers/ops.h"

namespace sv {

namespace {
struct Conv2dNode : Node {
  Tensor x, w;  // x (N,C,H,W), w (O,C/g,kh,kw)
  bool has_bias;
  Conv2dParams p;
  const char* name() const override { return "conv2d"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>& need,
                std::vector<Tensor>& gin) override {
    if (need[0]) gin[0] = be.conv2d_backward_data(gy, w, x.shape(), p, K);
    if (need[1]) {
      SV_CHECK(K == 1, Error, "conv2d: weight gradients need K = 1");
      gin[1] = be.conv2d_backward_filter(x, gy, w.shape(), p);
    }
    if (has_bias && need[2]) gin[2] = be.channel_sum(gy);
  }
};
}  // namespace

Var conv2d(const Var& x, const Var& w, const Var& b, const Conv2dParams& p) {
  check_ndim(x.value, 4, "conv2d", "input");
  check_ndim(w.value, 4, "conv2d", "weight");
  check_same_dtype_device(x.value, w.value, "conv2d");
  if (b.value.defined()) {
    check_ndim(b.value, 1, "conv2d", "bias");
    SV_CHECK(b.dim(0) == w.dim(0), ShapeError,
             "conv2d: bias " + shape_str(b.shape()) + " does not match weight " + shape_str(w.shape()));
  }
  const Shape ys = shape_rule::conv2d(x.shape(), w.shape(), b.value.defined() ? &b.shape() : nullptr, p);
  Backend& be = x.backend();
  Tensor y = x.graph->result(ys, x.value.dtype(), [&] { return be.conv2d_forward(x.value, w.value, b.value, p); });
  auto node = std::make_unique<Conv2dNode>();
  node->x = x.value;
  node->w = w.value;
  node->has_bias = b.value.defined();
  node->p = p;
  return x.graph->record(std::move(y), {x, w, b}, std::move(node));
}

}  // namespace sv
