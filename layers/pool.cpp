// Pooling ops (max, average, adaptive average, global), forward and backward side by side.
#include "layers/ops.h"

namespace sv {

namespace {
struct MaxPoolNode : Node {
  Tensor indices;  // (N,C,Ho,Wo) flat input position of each max
  Shape x_shape;
  const char* name() const override { return "maxpool2d"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.maxpool_backward(gy, indices, fold_k(x_shape, K));
  }
};

struct AvgPoolNode : Node {
  Shape x_shape;
  Pool2dParams p;
  const char* name() const override { return "avgpool2d"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.avgpool_backward(gy, fold_k(x_shape, K), p);
  }
};

struct AdaptiveAvgPoolNode : Node {
  Shape x_shape;
  const char* name() const override { return "adaptive_avgpool2d"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.adaptive_avgpool_backward(gy, fold_k(x_shape, K));
  }
};
}  // namespace

Var maxpool2d(const Var& x, const Pool2dParams& p) {
  check_ndim(x.value, 4, "maxpool2d", "input");
  pool2d_out_shape(x.shape(), p, "maxpool2d");
  auto node = std::make_unique<MaxPoolNode>();
  Tensor y = x.backend().maxpool_forward(x.value, p, node->indices);
  node->x_shape = x.shape();
  return x.graph->record(std::move(y), {x}, std::move(node));
}

Var avgpool2d(const Var& x, const Pool2dParams& p) {
  check_ndim(x.value, 4, "avgpool2d", "input");
  pool2d_out_shape(x.shape(), p, "avgpool2d");
  auto node = std::make_unique<AvgPoolNode>();
  node->x_shape = x.shape();
  node->p = p;
  return x.graph->record(x.backend().avgpool_forward(x.value, p), {x}, std::move(node));
}

Var adaptive_avgpool2d(const Var& x, int out_h, int out_w) {
  check_ndim(x.value, 4, "adaptive_avgpool2d", "input");
  SV_CHECK(out_h > 0 && out_w > 0, ValueError,
           "adaptive_avgpool2d: output size must be positive, got (" + std::to_string(out_h) + ", " +
               std::to_string(out_w) + ")");
  SV_CHECK(x.dim(2) > 0 && x.dim(3) > 0, ShapeError, "adaptive_avgpool2d: empty input " + shape_str(x.shape()));
  auto node = std::make_unique<AdaptiveAvgPoolNode>();
  node->x_shape = x.shape();
  return x.graph->record(x.backend().adaptive_avgpool_forward(x.value, out_h, out_w), {x}, std::move(node));
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
