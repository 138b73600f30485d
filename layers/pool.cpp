// Pooling ops (max, average, adaptive average, global), forward and backward side by side.
#include "layers/ops.h"

namespace sv {

namespace {
struct MaxPoolNode : Node {
  Tensor indices;  // (N,C,Ho,Wo) flat input position of each max
  Shape x_shape;
  const char* name() const override { return "maxpool2d"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.maxpool_backward(gy, indices, x_shape, K);
  }
};

struct AvgPoolNode : Node {
  Shape x_shape;
  Pool2dParams p;
  const char* name() const override { return "avgpool2d"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.avgpool_backward(gy, x_shape, p, K);
  }
};

struct AdaptiveAvgPoolNode : Node {
  Shape x_shape;
  const char* name() const override { return "adaptive_avgpool2d"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.adaptive_avgpool_backward(gy, x_shape, K);
  }
};
}  // namespace

Var maxpool2d(const Var& x, const Pool2dParams& p) {
  check_ndim(x.value, 4, "maxpool2d", "input");
  auto node = std::make_unique<MaxPoolNode>();
  Tensor y = x.graph->result(shape_rule::maxpool(x.shape(), p), x.value.dtype(),
                             [&] { return x.backend().maxpool_forward(x.value, p, node->indices); });
  node->x_shape = x.shape();
  return x.graph->record(std::move(y), {x}, std::move(node));
}

Var avgpool2d(const Var& x, const Pool2dParams& p) {
  check_ndim(x.value, 4, "avgpool2d", "input");
  auto node = std::make_unique<AvgPoolNode>();
  node->x_shape = x.shape();
  node->p = p;
  Tensor y = x.graph->result(shape_rule::avgpool(x.shape(), p), x.value.dtype(),
                             [&] { return x.backend().avgpool_forward(x.value, p); });
  return x.graph->record(std::move(y), {x}, std::move(node));
}

Var adaptive_avgpool2d(const Var& x, int out_h, int out_w) {
  check_ndim(x.value, 4, "adaptive_avgpool2d", "input");
  const Shape ys = shape_rule::adaptive_avgpool(x.shape(), out_h, out_w);
  auto node = std::make_unique<AdaptiveAvgPoolNode>();
  node->x_shape = x.shape();
  Tensor y = x.graph->result(ys, x.value.dtype(),
                             [&] { return x.backend().adaptive_avgpool_forward(x.value, out_h, out_w); });
  return x.graph->record(std::move(y), {x}, std::move(node));
}

Var global_avgpool(const Var& x) { return flatten(adaptive_avgpool2d(x, 1, 1)); }

Var global_maxpool(const Var& x) {
  check_ndim(x.value, 4, "global_maxpool", "input");
  Pool2dParams p;
  p.kernel_h = p.stride_h = static_cast<int>(x.dim(2));
  p.kernel_w = p.stride_w = static_cast<int>(x.dim(3));
  return flatten(maxpool2d(x, p));
}

}  // namespace sv
