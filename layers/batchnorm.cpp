// batchnorm2d in eval mode (running statistics folded into a per-channel affine map)
// and in train mode (batch statistics), forward and backward side by side.
#include <cmath>

#include "layers/ops.h"

namespace sv {

namespace {
void check_channels(const Var& x, const Tensor& v, const char* what) {
  SV_CHECK(x.value.ndim() == 4 || x.value.ndim() == 2, ShapeError,
           "batchnorm2d: input must be (N,C,H,W) or (N,C), got " + shape_str(x.shape()));
  SV_CHECK(v.defined() && v.ndim() == 1 && v.dim(0) == x.dim(1), ShapeError,
           std::string("batchnorm2d: ") + what + " has shape " + (v.defined() ? shape_str(v.shape()) : "undefined") +
               ", input has " + std::to_string(x.dim(1)) + " channels " + shape_str(x.shape()));
}

struct BatchnormEvalNode : Node {
  Tensor a;  // (C) the scale; the data gradient is gy * a
  const char* name() const override { return "batchnorm2d_eval"; }
  void backward(Backend& be, const Tensor& gy, int64_t, const std::vector<bool>& need,
                std::vector<Tensor>& gin) override {
    if (need[0]) gin[0] = be.channel_affine(gy, a, Tensor());
  }
};

struct BatchnormTrainNode : Node {
  Tensor xhat, gamma, invstd;  // xhat (N,C,H,W), gamma (C), invstd (C)
  const char* name() const override { return "batchnorm2d_train"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>& need,
                std::vector<Tensor>& gin) override {
    Tensor ggamma, gbeta;
    Tensor gx = be.batchnorm_train_backward(gy, xhat, gamma, invstd, K, ggamma, gbeta);
    if (need[0]) gin[0] = gx;
    SV_CHECK(K == 1 || !(need[1] || need[2]), Error, "batchnorm2d: parameter gradients need K = 1");
    if (need[1]) gin[1] = ggamma;
    if (need[2]) gin[2] = gbeta;
  }
};
}  // namespace

void batchnorm_fold(Backend& be, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                    const Tensor& running_var, double eps, Tensor& a, Tensor& c) {
  Tensor g = be.download(gamma).to(DType::F64), bt = be.download(beta).to(DType::F64);
  Tensor m = be.download(running_mean).to(DType::F64), v = be.download(running_var).to(DType::F64);
  const int64_t C = g.numel();
  SV_CHECK(bt.numel() == C && m.numel() == C && v.numel() == C, ShapeError,
           "batchnorm2d: gamma, beta, running_mean, running_var sizes differ");
  Tensor ha = Tensor::empty({C}, DType::F64), hc = Tensor::empty({C}, DType::F64);
  for (int64_t i = 0; i < C; ++i) {
    double s = g.data<double>()[i] / std::sqrt(v.data<double>()[i] + eps);
    ha.data<double>()[i] = s;
    hc.data<double>()[i] = bt.data<double>()[i] - m.data<double>()[i] * s;
  }
  a = be.upload(ha.to(gamma.dtype()));
  c = be.upload(hc.to(gamma.dtype()));
}

Var batchnorm2d_eval(const Var& x, const Tensor& a, const Tensor& c) {
  check_channels(x, a, "scale");
  check_channels(x, c, "shift");
  check_same_dtype_device(x.value, a, "batchnorm2d");
  auto node = std::make_unique<BatchnormEvalNode>();
  node->a = a;
  Tensor y = x.graph->result(shape_rule::channel_affine(x.shape(), a.shape(), &c.shape()), x.value.dtype(),
                             [&] { return x.backend().channel_affine(x.value, a, c); });
  return x.graph->record(std::move(y), {x}, std::move(node));
}

Var batchnorm2d_train(const Var& x, const Var& gamma, const Var& beta, Tensor& running_mean, Tensor& running_var,
                      double eps, double momentum) {
  check_channels(x, gamma.value, "weight");
  check_channels(x, beta.value, "bias");
  check_channels(x, running_mean, "running_mean");
  check_channels(x, running_var, "running_var");
  const int64_t M = x.value.numel() / x.dim(1);
  SV_CHECK(M > 1, ValueError, "batchnorm2d: train mode needs more than one value per channel, got input " +
                                  shape_str(x.shape()));
  const Shape ys = shape_rule::batchnorm_train(x.shape(), gamma.shape(), beta.shape());
  if (x.graph->shapes_only()) return Var{x.graph, Tensor::empty(ys, x.value.dtype()), -1};  // no statistics
  Backend& be = x.backend();
  Tensor mean, var_unbiased, invstd, xhat;
  Tensor y = be.batchnorm_train_forward(x.value, gamma.value, beta.value, eps, mean, var_unbiased, invstd, xhat);
  // running = (1 - momentum) * running + momentum * batch
  be.axpy_(running_mean, running_mean, -momentum);
  be.axpy_(running_mean, mean, momentum);
  be.axpy_(running_var, running_var, -momentum);
  be.axpy_(running_var, var_unbiased, momentum);
  auto node = std::make_unique<BatchnormTrainNode>();
  node->xhat = xhat;
  node->gamma = gamma.value;
  node->invstd = invstd;
  return x.graph->record(std::move(y), {x, gamma, beta}, std::move(node));
}

}  // namespace sv
