// Internals shared by primitives.cpp and primitives_ig.cpp (not part of the interface).
#pragma once
#include <memory>

#include "apps/primitives.h"

namespace sv::detail {

DType model_dtype(Model& m);  // dtype of the model's tensors (float32 unless built otherwise)
// x must be (N, C, H, W) with N > 0 and the model's channel count; `what` names it in errors.
void check_images(const Model& m, const Tensor& x, const char* what);

// One recorded forward pass: x (N, C, H, W) is a gradient target, phi (N, D) the features.
struct Recorded {
  std::unique_ptr<Graph> graph;
  Var x, phi;
};
Recorded record_forward(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x);

// G (N, D) or (K, N, D) checked against phi_shape (N, D), returned as (K, N, D).
Tensor k_stacked_cotangent(const Tensor& G, const Shape& phi_shape, const std::string& layer, Pool pool);

// Host copy of src into dst's rows starting at row0 (dim 0; same dtype, row sizes compatible).
void copy_rows(Tensor& dst, int64_t row0, const Tensor& src);

// ∂<cot_k, φ>/∂x for every k: cot (K, N, D) host -> (K, N, C, H, W) host, backward passes
// of at most max_k cotangents.
Tensor chunked_vjp(Recorded& r, const Tensor& cot, int64_t max_k, const ProgressFn& progress);

}  // namespace sv::detail
