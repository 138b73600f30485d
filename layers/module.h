// Modules: named layers with parameters, composed into models whose state-dict keys
// match torchvision's one to one ("layer1.0.conv1.weight").
//
// A Forward context runs a model on a graph and makes every named module's output
// addressable: Forward(g, "layer3") captures the output of the module at path "layer3"
// and stops the forward pass there (composite modules return as soon as done()).
//
// Fusion: a composite module runs its children through call_steps, which runs a Conv2d
// directly followed by a BatchNorm2d (and a ReLU) as one folded convolution
// (conv2d_bn_eval) when the graph is in eval mode and fusion is on. Values inside a fused
// run are not made: asking for the conv's output as the layer keeps that conv unfused,
// asking for the batchnorm's (or the ReLU's) keeps the ReLU out of the run, and the run's
// last module's output is captured under its name.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layers/ops.h"

namespace sv {

class Module;
class BatchNorm2d;

class Forward {
 public:
  explicit Forward(Graph& g, std::string stop_at = "", bool fuse = true)
      : graph(g), target_(std::move(stop_at)), fuse_(fuse) {}
  Graph& graph;

  // Runs child (a module named `name` inside the current one) and captures its output
  // when its full path is the target.
  Var call(Module& child, const std::string& name, const Var& x);
  // Runs the steps (named children of the current module) in order until done(), fusing
  // where it may (see above). The loop of a composite module.
  struct Step {
    std::string name;
    Module* module;
  };
  Var call_steps(const std::vector<Step>& steps, const Var& x);
  // f's output stands for child `name`'s (a fused op that includes that module), captured
  // under its path. fusing(): whether fused ops may stand for modules at all.
  Var call_as(const std::string& name, const std::function<Var()>& f);
  // A shape-only graph fuses nothing (folding would compute on the weights).
  bool fusing() const { return fuse_ && !graph.shapes_only(); }
  // Called with every module's output and its path as the forward runs (a diagnosis hook:
  // e.g. finding the first module whose output is not finite). Empty by default.
  std::function<void(const std::string& path, const Var& y)> observe;
  bool done() const { return done_; }
  const Var& captured() const { return captured_; }
  // Also makes the output of the module at `full_path` as itself, as if the pass stopped
  // there (no fused op swallows it), without stopping: `observe` then sees the same value a
  // Forward(g, full_path) would capture. For several layers from one pass.
  void keep(std::string full_path) { keep_.push_back(std::move(full_path)); }
  std::string path(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "." + name; }

 private:
  // Captures y when full_path is the target (the first time only).
  void capture(const std::string& full_path, const Var& y);
  // How many steps from steps[i] on run as one fused op (2 or 3), or 1.
  size_t fusable(const std::vector<Step>& steps, size_t i) const;
  // Whether the module at full_path must be made as itself: the target or a kept path.
  bool kept(const std::string& full_path) const;
  std::string target_, prefix_;
  std::vector<std::string> keep_;
  bool fuse_;
  bool done_ = false;
  Var captured_;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual Var forward(const Var& x, Forward& fw) = 0;
  virtual const char* kind() const = 0;  // "Conv2d", "Sequential", ...
  // This module's own tensors (not its children's), by local name. Buffers (running
  // statistics) are Params too; trainable() tells them apart.
  virtual std::vector<std::pair<std::string, Param*>> own_params() { return {}; }
  virtual bool trainable(const std::string& /*local_name*/) const { return true; }
  // Called after parameters change (loading, training, moving): drop derived caches.
  virtual void invalidate() {}
  // invalidate() on this module and every module below it.
  void invalidate_tree();

  Module* add(const std::string& name, std::unique_ptr<Module> m);
  Module* child(const std::string& name) const;  // null if absent
  const std::vector<std::pair<std::string, std::unique_ptr<Module>>>& children() const { return children_; }

  // Every tensor of the tree with its full name ("layer1.0.bn1.running_mean"), in order.
  std::vector<std::pair<std::string, Param*>> state(const std::string& prefix = "");
  // Trainable parameters only.
  std::vector<Param*> parameters();
  // Every module path in forward order ("features", "features.0", ...).
  std::vector<std::string> layer_names(const std::string& prefix = "") const;
  // Moves every tensor to be's device.
  void to(Backend& be);

 protected:
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// ---- leaf modules (torchvision names for their tensors)
class Conv2d : public Module {
 public:
  Conv2d(int in, int out, int kernel, const Conv2dParams& p, bool bias);
  Var forward(const Var& x, Forward& fw) override;
  const char* kind() const override { return "Conv2d"; }
  std::vector<std::pair<std::string, Param*>> own_params() override;
  void invalidate() override { folded_ = {}; }
  // This conv followed by bn (and a ReLU) in eval mode, as one op (conv2d_bn_eval); on the CPU the
  // folded weights are cached until either module's tensors change.
  Var forward_with(BatchNorm2d& bn, bool relu, const Var& x, Forward& fw);
  Param weight, bias;  // (out, in/groups, k, k), (out) or undefined
  Conv2dParams p;

 private:
  struct Folded {
    Tensor a;  // the batchnorm scale they were made from (its storage identifies it)
    uint64_t weight_version = 0, bias_version = 0;
    Tensor w, b;  // w', b'
  } folded_;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels, double eps = 1e-5, double momentum = 0.1);
  Var forward(const Var& x, Forward& fw) override;
  const char* kind() const override { return "BatchNorm2d"; }
  std::vector<std::pair<std::string, Param*>> own_params() override;
  bool trainable(const std::string& n) const override { return n == "weight" || n == "bias"; }
  void invalidate() override { a_ = c_ = Tensor(); }
  // The eval-mode affine map y = x * a + c (batchnorm_fold), made on first use and cached.
  void eval_affine(Backend& be, Tensor& a, Tensor& c);
  Param weight, bias, running_mean, running_var;  // all (C)
  double eps, momentum;

 private:
  Tensor a_, c_;  // folded eval-mode affine map, cached
  uint64_t a_weight_version_ = 0, a_bias_version_ = 0;  // of weight and bias when a_, c_ were made
};

class Linear : public Module {
 public:
  Linear(int in, int out, bool bias = true);
  Var forward(const Var& x, Forward& fw) override;
  const char* kind() const override { return "Linear"; }
  std::vector<std::pair<std::string, Param*>> own_params() override;
  Param weight, bias;  // (out, in), (out)
};

class ReLU : public Module {
 public:
  Var forward(const Var& x, Forward&) override { return relu(x); }
  const char* kind() const override { return "ReLU"; }
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const Pool2dParams& p) : p(p) {}
  Var forward(const Var& x, Forward&) override { return maxpool2d(x, p); }
  const char* kind() const override { return "MaxPool2d"; }
  Pool2dParams p;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const Pool2dParams& p) : p(p) {}
  Var forward(const Var& x, Forward&) override { return avgpool2d(x, p); }
  const char* kind() const override { return "AvgPool2d"; }
  Pool2dParams p;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(int h, int w) : h(h), w(w) {}
  Var forward(const Var& x, Forward&) override { return adaptive_avgpool2d(x, h, w); }
  const char* kind() const override { return "AdaptiveAvgPool2d"; }
  int h, w;
};

class Flatten : public Module {
 public:
  Var forward(const Var& x, Forward&) override { return flatten(x); }
  const char* kind() const override { return "Flatten"; }
};

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, uint64_t seed = 0) : p(p), seed(seed) {}
  Var forward(const Var& x, Forward&) override { return dropout(x, p, seed++); }
  const char* kind() const override { return "Dropout"; }
  double p;
  uint64_t seed;
};

// Runs its children in order ("0", "1", ... or given names).
class Sequential : public Module {
 public:
  Var forward(const Var& x, Forward& fw) override;
  const char* kind() const override { return "Sequential"; }
  Module* push(std::unique_ptr<Module> m) { return add(std::to_string(children_.size()), std::move(m)); }
};

// Deterministic initialization (Kaiming-uniform like torch's default) for training from scratch.
void init_params(Module& m, uint64_t seed);

}  // namespace sv
