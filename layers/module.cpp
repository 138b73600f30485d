#include "layers/module.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace sv {

size_t Forward::fusable(const std::vector<Step>& steps, size_t i) const {
  if (!fusing() || graph.training() || i + 1 >= steps.size()) return 1;
  if (!dynamic_cast<Conv2d*>(steps[i].module) || !dynamic_cast<BatchNorm2d*>(steps[i + 1].module)) return 1;
  if (kept(path(steps[i].name))) return 1;
  const bool relu = i + 2 < steps.size() && dynamic_cast<ReLU*>(steps[i + 2].module) &&
                    !kept(path(steps[i + 1].name)) && !kept(path(steps[i + 2].name));
  return relu ? 3 : 2;
}

bool Forward::kept(const std::string& full_path) const {
  return full_path == target_ || std::find(keep_.begin(), keep_.end(), full_path) != keep_.end();
}

Var Forward::call_steps(const std::vector<Step>& steps, const Var& x) {
  Var y = x;
  for (size_t i = 0; i < steps.size() && !done_;) {
    const size_t n = fusable(steps, i);
    if (n == 1) {
      y = call(*steps[i].module, steps[i].name, y);
    } else {
      auto& conv = static_cast<Conv2d&>(*steps[i].module);
      y = conv.forward_with(static_cast<BatchNorm2d&>(*steps[i + 1].module), n == 3, y, *this);
      capture(path(steps[i + n - 1].name), y);
    }
    i += n;
  }
  return y;
}

void Forward::capture(const std::string& full_path, const Var& y) {
  if (observe && !done_) observe(full_path, y);
  if (done_ || full_path != target_) return;
  captured_ = y;
  done_ = true;
}

Var Forward::call_as(const std::string& name, const std::function<Var()>& f) {
  Var y = f();
  capture(path(name), y);
  return y;
}

Var Forward::call(Module& child, const std::string& name, const Var& x) {
  std::string saved = prefix_;
  prefix_ = path(name);
  Var y = child.forward(x, *this);
  capture(prefix_, y);
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
  std::vector<Forward::Step> steps;
  for (auto& [n, m] : children_) steps.push_back({n, m.get()});
  return fw.call_steps(steps, x);
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
  if (g.training()) folded_ = {};  // weights are about to change: no stale copy held meanwhile
  return conv2d(x, g.param(weight), bias.value.defined() ? g.param(bias) : Var{}, p);
}

Var Conv2d::forward_with(BatchNorm2d& bn, bool relu, const Var& x, Forward& fw) {
  Graph& g = fw.graph;
  Tensor a, c;
  bn.eval_affine(g.backend(), a, c);
  // On the CPU the folded tensors are cached: folding is a pass over the weights, 10-20 ms
  // per forward for ResNet-50 on 2 cores. On a GPU that pass is far below a millisecond, so
  // they are made per call (and again by the backward) and device memory holds no second
  // copy of the weights.
  if (g.backend().device() != Device::CPU) {
    Tensor w, b;
    conv_bn_fold(g.backend(), weight.value, bias.value, a, c, w, b);
    return conv2d_bn_eval(x, g.param(weight), bias.value.defined() ? g.param(bias) : Var{}, a, w, b, p, relu,
                          /*keep_folded=*/false);
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
                        p, relu);
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
  if (!a_.defined() || a_weight_version_ != weight.version || a_bias_version_ != bias.version) {
    batchnorm_fold(be, weight.value, bias.value, running_mean.value, running_var.value, eps, a_, c_);
    a_weight_version_ = weight.version;
    a_bias_version_ = bias.version;
  }
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
  m.invalidate_tree();  // derived caches (folded batchnorm and conv) are stale now
}

}  // namespace sv
