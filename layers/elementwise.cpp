// add, scale, sum and mean, forward and backward side by side.
#include "layers/ops.h"

namespace sv {

namespace {
struct AddNode : Node {
  const char* name() const override { return "add"; }
  void backward(Backend&, const Tensor& gy, int64_t, const std::vector<bool>& need, std::vector<Tensor>& gin) override {
    if (need[0]) gin[0] = gy;
    if (need[1]) gin[1] = gy;
  }
};

struct ScaleNode : Node {
  double s;
  const char* name() const override { return "scale"; }
  void backward(Backend& be, const Tensor& gy, int64_t, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.scale(gy, s);
  }
};

// sum (s = 1) and mean (s = 1/numel): gx[k, i] = gy[k] * s
struct SumNode : Node {
  int64_t numel;
  double s;
  Shape x_shape;
  const char* name() const override { return "sum"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.broadcast_blocks(gy, numel, s, K).reshape(fold_k(x_shape, K));
  }
};

Var reduce(const Var& x, double s) {
  SV_CHECK(x.value.ndim() >= 1, ShapeError, "sum: input must have at least one dimension");
  auto node = std::make_unique<SumNode>();
  node->numel = x.value.numel();
  node->s = s;
  node->x_shape = x.shape();
  Tensor y = x.graph->result(shape_rule::sum_all(x.shape()), x.value.dtype(), [&] {
    Tensor r = x.backend().sum_all(x.value);
    return s != 1 ? x.backend().scale(r, s) : r;
  });
  return x.graph->record(std::move(y), {x}, std::move(node));
}
}  // namespace

Var add(const Var& a, const Var& b) {
  check_same_shape(a.value, b.value, "add");
  check_same_dtype_device(a.value, b.value, "add");
  Tensor y = a.graph->result(shape_rule::add(a.shape(), b.shape()), a.value.dtype(),
                             [&] { return a.backend().add(a.value, b.value); });
  return a.graph->record(std::move(y), {a, b}, std::make_unique<AddNode>());
}

Var scale(const Var& x, double s) {
  auto node = std::make_unique<ScaleNode>();
  node->s = s;
  Tensor y = x.graph->result(shape_rule::scale(x.shape()), x.value.dtype(),
                             [&] { return x.backend().scale(x.value, s); });
  return x.graph->record(std::move(y), {x}, std::move(node));
}

Var sum(const Var& x) { return reduce(x, 1.0); }

Var mean(const Var& x) {
  SV_CHECK(x.value.numel() > 0, ShapeError, "mean: empty input " + shape_str(x.shape()));
  return reduce(x, 1.0 / static_cast<double>(x.value.numel()));
}

}  // namespace sv
