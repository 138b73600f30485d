#include "layers/module.h"

#include <cmath>
#include <random>

namespace sv {

Var Forward::call_pair(Module& child, const std::string& name, Module* next, const std::string& next_name,
                       const Var& x, bool& fused) {
  fused = false;
  auto* conv = dynamic_cast<Conv2d*>(&child);
  auto* bn = next ? dynamic_cast<BatchNorm2d*>(next) : nullptr;
  if (!conv || !bn || !fuse_ || graph.training() || path(name) == target_) return call(child, name, x);
  fused = true;
  Var y = conv->forward_with(*bn, x, *this);
  if (!done_ && path(next_name) == target_) {
    captured_ = y;
    done_ = true;
  }
  return y;
}

Var Forward::call(Module& child, const std::string& name, const Var& x) {
  std::string saved = prefix_;
  prefix_ = path(name);
  Var y = child.forward(x, *this);
  if (!done_ && prefix_ == target_) {
    captured_ = y;
    done_ = true;
  }
  prefix_ = saved;
  return y;
}

Module* Module::add(const std::string& name, std::unique_ptr<Module> m) {
  SV_CHECK(child(name) == nullptr, ValueError, "module already has a child named '" + name + "'");
  children_.emplace_back(name, std::move(m));
  return children_.back().second.get();
}

Module* Module::child(const std::string& name) const {
  for (auto& [n, m] : children_)
    if (n == name) return m.get();
  return nullptr;
}

std::vector<std::pair<std::string, Param*>> Module::state(const std::string& prefix) {
  std::vector<std::pair<std::string, Param*>> out;
  for (auto& [n, p] : own_params()) out.emplace_back(prefix + n, p);
  for (auto& [n, m] : children_) {
    auto sub = m->state(prefix + n + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Param*> Module::parameters() {
  std::vector<Param*> out;
  for (auto& [n, p] : own_params())
    if (trainable(n) && p->value.defined()) out.push_back(p);
  for (auto& [n, m] : children_) {
    auto sub = m->parameters();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<std::string> Module::layer_names(const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto& [n, m] : children_) {
    std::string full = prefix.empty() ? n : prefix + "." + n;
    out.push_back(full);
    auto sub = m->layer_names(full);
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

void Module::invalidate_tree() {
  invalidate();
  for (auto& [n, m] : children_) m->invalidate_tree();
}

void Module::to(Backend& be) {
  for (auto& [n, p] : own_params()) {
    if (p->value.defined()) p->value = be.upload(p->value);
    p->grad = Tensor();
  }
  invalidate();
  for (auto& [n, m] : children_) m->to(be);
}

Var Sequential::forward(const Var& x, Forward& fw) {
  Var y = x;
  for (size_t i = 0; i < children_.size() && !fw.done(); ++i) {
    const bool last = i + 1 == children_.size();
    bool fused = false;
    y = fw.call_pair(*children_[i].second, children_[i].first, last ? nullptr : children_[i + 1].second.get(),
                     last ? "" : children_[i + 1].first, y, fused);
    i += fused;
  }
  return y;
}

// ---- Conv2d
Conv2d::Conv2d(int in, int out, int kernel, const Conv2dParams& p, bool has_bias) : p(p) {
  SV_CHECK(p.groups > 0 && in % p.groups == 0, ValueError, "Conv2d: groups must divide in_channels");
  weight = {"weight", Tensor::zeros({out, in / p.groups, kernel, kernel}), {}};
  if (has_bias) bias = {"bias", Tensor::zeros({out}), {}};
}
std::vector<std::pair<std::string, Param*>> Conv2d::own_params() {
  std::vector<std::pair<std::string, Param*>> v{{"weight", &weight}};
  if (bias.value.defined()) v.emplace_back("bias", &bias);
  return v;
}
Var Conv2d::forward(const Var& x, Forward& fw) {
  Graph& g = fw.graph;
  return conv2d(x, g.param(weight), bias.value.defined() ? g.param(bias) : Var{}, p);
}

Var Conv2d::forward_with(BatchNorm2d& bn, const Var& x, Forward& fw) {
  Graph& g = fw.graph;
  Tensor a, c;
  bn.eval_affine(g.backend(), a, c);
  // On the CPU the folded tensors are cached: folding is a pass over the weights, 10-20 ms
  // per forward for ResNet-50 on 2 cores. On a GPU that pass is far below a millisecond, so
  // they are made per call and device memory holds no second copy of the weights.
  if (g.backend().device() != Device::CPU) {
    Tensor w, b;
    conv_bn_fold(g.backend(), weight.value, bias.value, a, c, w, b);
    return conv2d_bn_eval(x, g.param(weight), bias.value.defined() ? g.param(bias) : Var{}, a, w, b, p);
  }
  // Remade on first use, when the batchnorm's map was remade, or after an optimizer step.
  if (!folded_.a.defined() || folded_.a.raw() != a.raw() || folded_.weight_version != weight.version ||
      folded_.bias_version != bias.version) {
    conv_bn_fold(g.backend(), weight.value, bias.value, a, c, folded_.w, folded_.b);
    folded_.a = a;
    folded_.weight_version = weight.version;
    folded_.bias_version = bias.version;
  }
  return conv2d_bn_eval(x, g.param(weight), bias.value.defined() ? g.param(bias) : Var{}, a, folded_.w, folded_.b,
                        p);
}

// ---- BatchNorm2d
BatchNorm2d::BatchNorm2d(int c, double eps, double momentum) : eps(eps), momentum(momentum) {
  weight = {"weight", Tensor::full({c}, 1.0), {}};
  bias = {"bias", Tensor::zeros({c}), {}};
  running_mean = {"running_mean", Tensor::zeros({c}), {}};
  running_var = {"running_var", Tensor::full({c}, 1.0), {}};
}
std::vector<std::pair<std::string, Param*>> BatchNorm2d::own_params() {
  return {{"weight", &weight}, {"bias", &bias}, {"running_mean", &running_mean}, {"running_var", &running_var}};
}
Var BatchNorm2d::forward(const Var& x, Forward& fw) {
  Graph& g = fw.graph;
  if (g.training()) {
    a_ = c_ = Tensor();
    return batchnorm2d_train(x, g.param(weight), g.param(bias), running_mean.value, running_var.value, eps, momentum);
  }
  Tensor a, c;
  eval_affine(g.backend(), a, c);
  return batchnorm2d_eval(x, a, c);
}

void BatchNorm2d::eval_affine(Backend& be, Tensor& a, Tensor& c) {
  if (!a_.defined()) batchnorm_fold(be, weight.value, bias.value, running_mean.value, running_var.value, eps, a_, c_);
  a = a_;
  c = c_;
}

// ---- Linear
Linear::Linear(int in, int out, bool has_bias) {
  weight = {"weight", Tensor::zeros({out, in}), {}};
  if (has_bias) bias = {"bias", Tensor::zeros({out}), {}};
}
std::vector<std::pair<std::string, Param*>> Linear::own_params() {
  std::vector<std::pair<std::string, Param*>> v{{"weight", &weight}};
  if (bias.value.defined()) v.emplace_back("bias", &bias);
  return v;
}
Var Linear::forward(const Var& x, Forward& fw) {
  Graph& g = fw.graph;
  return linear(x, g.param(weight), bias.value.defined() ? g.param(bias) : Var{});
}

// ---- init: Kaiming-uniform weights U(-b, b), b = sqrt(6 / fan_in) (ReLU gain); biases 0,
// batchnorm gamma 1. Host tensors only (initialize before moving a model to a device).
void init_params(Module& m, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (auto& [name, p] : m.state()) {
    Tensor& v = p->value;
    bool is_weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    if (!v.defined() || v.ndim() < 2 || !is_weight) continue;
    SV_CHECK(v.is_cpu(), Error, "init_params: parameter " + name + " is not on the host");
    const double bound = std::sqrt(6.0 / static_cast<double>(v.numel() / v.dim(0)));
    std::uniform_real_distribution<double> u(-bound, bound);
    Tensor h = Tensor::empty(v.shape(), DType::F64);
    for (int64_t i = 0; i < h.numel(); ++i) h.data<double>()[i] = u(rng);
    v = h.to(v.dtype());
  }
}

}  // namespace sv
