// Calls f(T{}) with T = float or double according to a tensor's dtype.
#pragma once
#include <string>

#include "autodiff/tensor.h"

namespace sv {

template <class F>
auto dispatch_float(const Tensor& t, const char* op, F&& f) {
  switch (t.dtype()) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    default: break;
  }
  throw ShapeError(std::string(op) + ": expected a float32 or float64 tensor, got " + dtype_name(t.dtype()));
}

}  // namespace sv
