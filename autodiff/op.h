// The op table: every op a backend computes, described once.
//
// An op is: its entry here (name, whether its gradient operand is K-stacked, whether it
// has a default in terms of other ops), its output-shape rule (autodiff/shapes.h, one
// function per op, named after it), its Backend method (autodiff/backend.h: the one place
// that checks the shapes and picks the kernel) and its reference kernel
// (backends/reference/). A faster backend declares what it implements with
// Backend::supports_op; every other op runs on the CPU reference (backend.h, "Fallback").
//
// Adding an op: an Op value and its row in op.cpp, its shape rule in shapes.h/.cpp, its
// Backend method and protected kernel in backend.h/.cpp, its reference kernel in
// backends/reference/, the differentiable op in layers/, and a row in tests/op_cases.cpp.
// Nothing else: the fast CPU and CUDA backends run it through the reference until they
// implement it.
#pragma once
#include <cstddef>
#include <initializer_list>

namespace sv {

enum class Op : int {
  // elementwise and reductions
  Add,
  Axpy,
  Scale,
  MulTiled,
  Interpolate,
  SumAll,
  SumBlocks,
  BroadcastBlocks,
  // convolution
  Conv2dForward,
  Conv2dReluForward,
  Conv2dBackwardData,
  Conv2dBackwardFilter,
  ChannelSum,
  // per-channel affine and batch normalization
  ChannelAffine,
  BatchnormTrainForward,
  BatchnormTrainBackward,
  // activations
  ReluForward,
  AddRelu,
  ReluBackward,
  // pooling
  MaxpoolForward,
  MaxpoolBackward,
  AvgpoolForward,
  AvgpoolBackward,
  AdaptiveAvgpoolForward,
  AdaptiveAvgpoolBackward,
  // dense
  LinearForward,
  LinearBackwardData,
  LinearBackwardWeight,
  // loss
  SoftmaxXentForward,
  SoftmaxXentBackward,
};
inline constexpr int kOpCount = static_cast<int>(Op::SoftmaxXentBackward) + 1;

struct OpInfo {
  Op op;
  const char* name;  // as in error messages and the debug log: "relu backward"
  // Its gradient operand is K-stacked ((K*N, ...) over a saved (N, ...)): the Backend
  // method takes K explicitly and checks the shapes exactly.
  bool k_stacked;
  // Backend has a default made of other ops (conv + relu, add + relu): every backend
  // supports it; a backend may override it to do it in one pass.
  bool composite;
  const char* what;  // one line: what it computes
};

const OpInfo& op_info(Op op);
inline const char* op_name(Op op) { return op_info(op).name; }

// Whether op is one of ops: a backend's supports_op written as the list of its kernels.
inline bool op_in(Op op, std::initializer_list<Op> ops) {
  for (Op o : ops)
    if (o == op) return true;
  return false;
}

}  // namespace sv
