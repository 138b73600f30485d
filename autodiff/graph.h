// A define-by-run reverse-mode autodiff graph whose backward pass carries many
// cotangents at once.
//
// Recording: every op appends one entry to the graph's tape, so the tape is already in
// topological order; backward walks it in reverse. An entry keeps only its shape and its
// Node; the Node saves exactly the forward tensors its backward needs. A Graph built with
// record = false is inference mode: ops compute values and record nothing. A shape-only
// Graph (shapes_only = true, no recording) runs no kernel at all: every op checks its
// operands with its shape rule (autodiff/shapes.h) and returns an uninitialised host
// tensor of its output's shape (Graph::result), so a model's forward pass gives every
// layer's output shape in the time of a few allocations (apps/shape_probe.h).
//
// Multi-output backward: vjp(y, cotangents (K, *y.shape), wrt) runs every node's backward
// ONCE on the K stacked cotangents, K folded into dimension 0 ((K*N, ...), see backend.h,
// "K-tiling"). Nodes read their saved (N, ...) tensors without copying them K times. K is
// processed in chunks of at most max_k with identical results. Gradients with respect to
// any recorded Var (an intermediate layer output too) are available.
//
// Gradient convention, stated once:
// - Within a backward pass, gradients flowing into an entry from several consumers are
//   summed (fresh tensors; nothing a node returned is modified in place).
// - backward(loss) ACCUMULATES (+=) into Param::grad; zero_grad() clears them.
// - vjp() returns fresh tensors and never touches Param::grad.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "autodiff/backend.h"

namespace sv {

class Graph;

// A named trainable tensor. value and grad live on the same device. Whoever changes
// value in place (the optimizers) bumps version, so that tensors derived from it (a conv
// weight with a batchnorm folded in) know to be remade; replacing value (loading, moving)
// goes with Module::invalidate() instead.
struct Param {
  std::string name;
  Tensor value;
  Tensor grad;  // undefined until the first backward
  uint64_t version = 0;
};

// A value in a graph: its tensor and its tape entry (id < 0: not recorded).
struct Var {
  Graph* graph = nullptr;
  Tensor value;
  int id = -1;

  const Shape& shape() const { return value.shape(); }
  int64_t dim(int i) const { return value.dim(i); }
  Backend& backend() const;
};

// The backward of one op. gout is the K-stacked gradient of the op's output. For each
// input i with need[i], backward sets gin[i] to the K-stacked gradient of that input.
struct Node {
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  virtual void backward(Backend& be, const Tensor& gout, int64_t K, const std::vector<bool>& need,
                        std::vector<Tensor>& gin) = 0;
};

class Graph {
 public:
  explicit Graph(Backend& backend, bool record = true, bool shapes_only = false)
      : backend_(backend), record_(record), shapes_only_(shapes_only) {
    SV_CHECK(!(record && shapes_only), ValueError, "a shape-only graph cannot record (it computes no values)");
  }
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  Backend& backend() const { return backend_; }
  bool recording() const { return record_; }
  bool shapes_only() const { return shapes_only_; }
  // An op's result: kernel() normally; in a shape-only graph an uninitialised host tensor of
  // the given shape (the op's shape rule's) and dtype, without running the kernel.
  template <class Kernel>
  Tensor result(const Shape& shape, DType dtype, Kernel&& kernel) {
    if (shapes_only_) return Tensor::empty(shape, dtype);
    return kernel();
  }
  bool training() const { return training_; }
  void set_training(bool t) { training_ = t; }

  // Leaves. input(): a tensor (moved to this backend's device); requires_grad marks it as
  // a gradient target for backward(). param(): bound to a Param; backward() accumulates into it.
  Var input(const Tensor& t, bool requires_grad = false);
  Var param(Param& p);
  // Called by ops: appends value's entry with its inputs and backward node.
  Var record(Tensor value, const std::vector<Var>& inputs, std::unique_ptr<Node> node);

  // Multi-output vector-Jacobian product: cot (K, *y.shape) -> for each wrt, (K, *wrt.shape).
  // max_k <= 0: all K at once.
  std::vector<Tensor> vjp(const Var& y, const Tensor& cot, const std::vector<Var>& wrt, int64_t max_k = 0);
  // Scalar loss: accumulate d loss / d p into every reachable Param's grad (K = 1).
  void backward(const Var& loss);

  size_t size() const { return tape_.size(); }

 private:
  struct Entry {
    Shape shape;
    DType dtype;
    std::vector<int> inputs;
    std::unique_ptr<Node> node;  // null for leaves
    Param* param = nullptr;
    bool requires_grad = false;
  };
  void check_var(const Var& v, const char* what) const;
  // Backward over the tape from y with K-stacked seed; fills grads[id] for entries with need[id].
  // Gradients of entries with keep[id] stay in grads; the others are freed once propagated.
  void run_backward(int y, const Tensor& seed, int64_t K, const std::vector<bool>& need,
                    const std::vector<bool>& keep, std::vector<Tensor>& grads);

  Backend& backend_;
  bool record_;
  bool shapes_only_;
  bool training_ = false;
  std::vector<Entry> tape_;
};

}  // namespace sv
