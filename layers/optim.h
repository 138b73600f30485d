// Optimizers over host parameters (float32 or float64), with torch.optim semantics.
//
//   SGD   g = grad + wd * p;  buf = momentum * buf + g (buf = g on the first step);
//         p -= lr * buf        (momentum = 0: p -= lr * g)
//   Adam  g = grad + wd * p;  m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g^2;
//         p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),  t = step count
//
// step() updates every parameter whose grad is defined (parameters that got no gradient
// are skipped, as torch skips grad = None); zero_grad() undefines the grads, so the next
// Graph::backward starts from zero. The optimizer state (momentum buffers, moments) is
// kept per parameter in the parameter's dtype.
#pragma once
#include <vector>

#include "autodiff/graph.h"

namespace sv {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0;
  double weight_decay = 0;
};

class Sgd {
 public:
  Sgd(std::vector<Param*> params, const SgdOptions& options);
  void step();
  void zero_grad();
  SgdOptions options;

 private:
  std::vector<Param*> params_;
  std::vector<Tensor> buf_;  // momentum buffers, undefined until a parameter's first step
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};

class Adam {
 public:
  Adam(std::vector<Param*> params, const AdamOptions& options);
  void step();
  void zero_grad();
  AdamOptions options;

 private:
  std::vector<Param*> params_;
  std::vector<Tensor> m_, v_;  // first and second moments, per parameter
  std::vector<int64_t> t_;     // steps taken per parameter (bias correction)
};

}  // namespace sv
