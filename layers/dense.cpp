// linear, flatten and reshape, forward and backward side by side.
#include "layers/ops.h"

namespace sv {

namespace {
struct LinearNode : Node {
  Tensor x, w;  // x (N,in) for the weight gradient, w (out,in) for the data gradient
  bool has_bias;
  const char* name() const override { return "linear"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>& need,
                std::vector<Tensor>& gin) override {
    if (need[0]) gin[0] = be.linear_backward_data(gy, w, x.shape(), K);
    if (need[1]) {
      SV_CHECK(K == 1, Error, "linear: weight gradients need K = 1");
      gin[1] = be.linear_backward_weight(x, gy);
    }
    if (has_bias && need[2]) gin[2] = be.channel_sum(gy);
  }
};

struct ReshapeNode : Node {
  Shape x_shape;
  const char* name() const override { return "reshape"; }
  void backward(Backend&, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = gy.reshape(fold_k(x_shape, K));
  }
};
}  // namespace

Var linear(const Var& x, const Var& w, const Var& b) {
  check_ndim(x.value, 2, "linear", "input");
  check_ndim(w.value, 2, "linear", "weight");
  check_same_dtype_device(x.value, w.value, "linear");
  SV_CHECK(x.dim(1) == w.dim(1), ShapeError,
           "linear: input " + shape_str(x.shape()) + " does not match weight " + shape_str(w.shape()) +
               " (in_features " + std::to_string(w.dim(1)) + ")");
  if (b.value.defined())
    SV_CHECK(b.value.ndim() == 1 && b.dim(0) == w.dim(0), ShapeError,
             "linear: bias " + shape_str(b.shape()) + " does not match weight " + shape_str(w.shape()));
  auto node = std::make_unique<LinearNode>();
  node->x = x.value;
  node->w = w.value;
  node->has_bias = b.value.defined();
  Tensor y = x.graph->result(shape_rule::linear(x.shape(), w.shape(), b.value.defined() ? &b.shape() : nullptr),
                             x.value.dtype(), [&] { return x.backend().linear_forward(x.value, w.value, b.value); });
  return x.graph->record(std::move(y), {x, w, b}, std::move(node));
}

Var reshape(const Var& x, const Shape& shape) {
  SV_CHECK(x.value.ndim() >= 1 && !shape.empty() && shape[0] == x.dim(0), ShapeError,
           "reshape: must keep the batch dimension, " + shape_str(x.shape()) + " -> " + shape_str(shape));
  SV_CHECK(shape_numel(shape) == x.value.numel(), ShapeError,
           "reshape: " + shape_str(x.shape()) + " -> " + shape_str(shape) + " changes the number of elements");
  auto node = std::make_unique<ReshapeNode>();
  node->x_shape = x.shape();
  return x.graph->record(x.value.reshape(shape), {x}, std::move(node));
}

Var flatten(const Var& x) {
  SV_CHECK(x.value.ndim() >= 1, ShapeError, "flatten: input is a scalar");
  int64_t n = x.dim(0);
  return reshape(x, {n, n == 0 ? 0 : x.value.numel() / n});
}

}  // namespace sv
