// The op table of tests/test_backend_ops.cpp: one OpCase per (Backend op, shape). A case
// says how to make its inputs, which Backend calls to run (forward, backward with one
// cotangent, backward K-stacked), what the calls return, and optionally the layers/ops
// function whose float64 gradient is checked by finite differences.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autodiff/backend.h"
#include "tests/gradcheck.h"

namespace sv::test {

// How an input's values are made (float64, then rounded to the dtype under test).
enum class Gen {
  Normal,        // N(0, scale^2)
  AwayFromZero,  // |x| > 1e-5: no ReLU kink within reach of the finite-difference step
  Distinct,      // pairwise distinct by 0.01: every max-pool window has one clear maximum
  Ties,          // integers in about [-3, 3]: ties in max pooling, exact zeros for ReLU
  KinkFreeSum,   // this minus the previous input is AwayFromZero: relu(prev + this) has no kink
  Labels,        // int32 class labels in [0, classes)
};

struct InputSpec {
  Shape shape;
  Gen gen = Gen::Normal;
  double scale = 1.0;
  int classes = 0;  // Gen::Labels
};

inline InputSpec in(const Shape& s, Gen g = Gen::Normal, double scale = 1.0) { return {s, g, scale, 0}; }
inline InputSpec labels_in(int64_t n, int classes) { return {{n}, Gen::Labels, 1.0, classes}; }

// The Backend calls of a case, given its inputs held by that backend. Returns every
// result (forward values, saved tensors such as max-pool indices, gradients), in the
// order of OpCase::outputs.
using RunFn = std::function<std::vector<Tensor>(Backend&, const std::vector<Tensor>&)>;
// The ops-level function for the gradient check: its differentiable inputs as Vars (those
// of OpCase::grad_inputs, in order) and every input as a host float64 tensor.
using GradFn = std::function<Var(const std::vector<Var>&, const std::vector<Tensor>&)>;

struct OpCase {
  std::string op;     // the family: "conv2d", "relu", ...
  std::string shape;  // sizes and parameters, e.g. "x(2,3,7,6) w(4,3,3,3) s(2,1) ..."
  std::vector<InputSpec> inputs;
  std::vector<std::string> outputs;
  RunFn run;
  GradFn grad;                   // empty: no gradient check for this case
  std::vector<int> grad_inputs;  // which inputs the gradient check differentiates
  int64_t grad_k = 2;            // cotangents stacked in the gradient check
  double tol = 1.0;              // multiplies the dtype's tolerance (cuDNN's algorithms: 10)
  std::string expect_error;      // "ShapeError" / "ValueError": every backend must throw it
};

// Every case, in table order (tests/op_cases.cpp).
std::vector<OpCase> all_op_cases();

}  // namespace sv::test
