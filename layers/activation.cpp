// relu, add + relu (a residual block's end) and dropout, forward and backward side by side.
#include <random>

#include "layers/ops.h"

namespace sv {

namespace {
struct ReluNode : Node {
  Tensor y;  // the output: the gradient passes where y > 0
  const char* name() const override { return "relu"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.relu_backward(gy, y, K);
  }
};

// y = relu(a + b): both inputs get the gradient masked by y > 0.
struct AddReluNode : Node {
  Tensor y;
  const char* name() const override { return "add_relu"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>& need,
                std::vector<Tensor>& gin) override {
    const Tensor g = be.relu_backward(gy, y, K);
    if (need[0]) gin[0] = g;
    if (need[1]) gin[1] = g;
  }
};

struct MulNode : Node {
  Tensor m;  // the constant factor, K-tiled over the gradient
  const char* name() const override { return "mul"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.mul_tiled(gy, m, K);
  }
};
}  // namespace

Var relu(const Var& x) {
  auto node = std::make_unique<ReluNode>();
  Tensor y = x.graph->result(shape_rule::relu(x.shape()), x.value.dtype(),
                             [&] { return x.backend().relu_forward(x.value); });
  node->y = y;
  return x.graph->record(std::move(y), {x}, std::move(node));
}

namespace {
Var add_relu_impl(const Var& a, const Var& b, bool in_place) {
  check_same_shape(a.value, b.value, "add_relu");
  check_same_dtype_device(a.value, b.value, "add_relu");
  auto node = std::make_unique<AddReluNode>();
  Tensor y = a.graph->result(shape_rule::add_relu(a.shape(), b.shape()), a.value.dtype(), [&] {
    if (!in_place) return a.backend().add_relu(a.value, b.value);
    Tensor r = a.value;
    a.backend().add_relu_(r, b.value);
    return r;
  });
  node->y = y;
  return a.graph->record(std::move(y), {a, b}, std::move(node));
}
}  // namespace

Var add_relu(const Var& a, const Var& b) { return add_relu_impl(a, b, false); }

Var add_relu(Var&& a, const Var& b) {
  // Nothing else holds a's storage (no saved tensor of a node, no view, no copy), and the
  // caller gave a up: overwriting it is invisible. The tape keeps a's id, not its value.
  Var owned = std::move(a);
  const bool in_place = owned.value.sole_owner();
  return add_relu_impl(owned, b, in_place);
}

Var mul(const Var& a, const Tensor& m) {
  check_same_shape(a.value, m, "mul");
  check_same_dtype_device(a.value, m, "mul");
  auto node = std::make_unique<MulNode>();
  node->m = m;
  Tensor y = a.graph->result(a.shape(), a.value.dtype(), [&] { return a.backend().mul_tiled(a.value, m, 1); });
  return a.graph->record(std::move(y), {a}, std::move(node));
}

Var dropout(const Var& x, double p, uint64_t seed) {
  SV_CHECK(p >= 0 && p < 1, ValueError, "dropout: probability must be in [0, 1), got " + std::to_string(p));
  if (!x.graph->training() || p == 0) return x;
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution keep(1 - p);
  Tensor m = Tensor::empty(x.shape(), DType::F64);
  for (int64_t i = 0; i < m.numel(); ++i) m.data<double>()[i] = keep(rng) ? 1 / (1 - p) : 0;
  return mul(x, x.backend().upload(m.to(x.value.dtype())));
}

}  // namespace sv
