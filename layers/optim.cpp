// SGD with momentum and Adam (see optim.h for the update rules), one loop per parameter.
#include "layers/optim.h"

#include <cmath>
#include <string>
#include <utility>

#include "autodiff/dispatch.h"

namespace sv {

namespace {
void check_params(const std::vector<Param*>& params, const char* opt) {
  for (const Param* p : params) {
    SV_CHECK(p != nullptr, ValueError, std::string(opt) + ": null parameter");
    SV_CHECK(p->value.defined() && p->value.is_cpu(), ShapeError,
             std::string(opt) + ": parameter '" + p->name + "' must be a host tensor");
    SV_CHECK(p->value.dtype() == DType::F32 || p->value.dtype() == DType::F64, ShapeError,
             std::string(opt) + ": parameter '" + p->name + "' is " + dtype_name(p->value.dtype()) +
                 ", expected float32 or float64");
  }
}

void check_grad(const Param& p, const char* opt) {
  SV_CHECK(p.grad.is_cpu() && p.grad.shape() == p.value.shape() && p.grad.dtype() == p.value.dtype(), ShapeError,
           std::string(opt) + ": gradient of '" + p.name + "' is " + shape_str(p.grad.shape()) + " " +
               dtype_name(p.grad.dtype()) + " on " + device_name(p.grad.device()) + ", parameter is " +
               shape_str(p.value.shape()) + " " + dtype_name(p.value.dtype()));
}

void undefine_grads(const std::vector<Param*>& params) {
  for (Param* p : params) p->grad = Tensor();
}
}  // namespace

Sgd::Sgd(std::vector<Param*> params, const SgdOptions& o) : options(o), params_(std::move(params)) {
  check_params(params_, "SGD");
  SV_CHECK(o.lr >= 0 && o.momentum >= 0 && o.weight_decay >= 0, ValueError,
           "SGD: lr, momentum and weight_decay must be >= 0, got " + std::to_string(o.lr) + ", " +
               std::to_string(o.momentum) + ", " + std::to_string(o.weight_decay));
  buf_.resize(params_.size());
}

void Sgd::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = *params_[i];
    if (!p.grad.defined()) continue;
    check_grad(p, "SGD");
    ++p.version;
    const bool first = !buf_[i].defined();
    if (options.momentum != 0 && first) buf_[i] = Tensor::empty(p.value.shape(), p.value.dtype());
    dispatch_float(p.value, "SGD", [&](auto tag) {
      using T = decltype(tag);
      T* P = p.value.data<T>();
      const T* G = p.grad.data<T>();
      T* B = options.momentum != 0 ? buf_[i].data<T>() : nullptr;
      const T lr = static_cast<T>(options.lr), wd = static_cast<T>(options.weight_decay);
      const T mom = static_cast<T>(options.momentum);
      for (int64_t j = 0; j < p.value.numel(); ++j) {
        T g = G[j] + wd * P[j];
        if (B) {
          B[j] = first ? g : mom * B[j] + g;
          g = B[j];
        }
        P[j] -= lr * g;
      }
      return 0;
    });
  }
}

void Sgd::zero_grad() { undefine_grads(params_); }

Adam::Adam(std::vector<Param*> params, const AdamOptions& o) : options(o), params_(std::move(params)) {
  check_params(params_, "Adam");
  SV_CHECK(o.lr >= 0 && o.eps >= 0 && o.weight_decay >= 0, ValueError,
           "Adam: lr, eps and weight_decay must be >= 0, got " + std::to_string(o.lr) + ", " + std::to_string(o.eps) +
               ", " + std::to_string(o.weight_decay));
  SV_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, ValueError,
           "Adam: betas must be in [0, 1), got (" + std::to_string(o.beta1) + ", " + std::to_string(o.beta2) + ")");
  m_.resize(params_.size());
  v_.resize(params_.size());
  t_.assign(params_.size(), 0);
}

void Adam::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = *params_[i];
    if (!p.grad.defined()) continue;
    check_grad(p, "Adam");
    ++p.version;
    if (!m_[i].defined()) {
      m_[i] = Tensor::zeros(p.value.shape(), p.value.dtype());
      v_[i] = Tensor::zeros(p.value.shape(), p.value.dtype());
    }
    const int64_t t = ++t_[i];
    const double bc1 = 1 - std::pow(options.beta1, static_cast<double>(t));
    const double bc2 = 1 - std::pow(options.beta2, static_cast<double>(t));
    dispatch_float(p.value, "Adam", [&](auto tag) {
      using T = decltype(tag);
      T *P = p.value.data<T>(), *M = m_[i].data<T>(), *V = v_[i].data<T>();
      const T* G = p.grad.data<T>();
      const T b1 = static_cast<T>(options.beta1), b2 = static_cast<T>(options.beta2);
      const T wd = static_cast<T>(options.weight_decay), eps = static_cast<T>(options.eps);
      const T step_size = static_cast<T>(options.lr / bc1), sqrt_bc2 = static_cast<T>(std::sqrt(bc2));
      for (int64_t j = 0; j < p.value.numel(); ++j) {
        const T g = G[j] + wd * P[j];
        M[j] = b1 * M[j] + (1 - b1) * g;
        V[j] = b2 * V[j] + (1 - b2) * g * g;
        P[j] -= step_size * M[j] / (std::sqrt(V[j]) / sqrt_bc2 + eps);
      }
      return 0;
    });
  }
}

void Adam::zero_grad() { undefine_grads(params_); }

}  // namespace sv
