// The research primitives on a model: features φ(x) at a layer, multi-output
// vector-Jacobian products, Jacobian rows and Integrated Gradients. All take and return
// host tensors; the work runs on the given backend. Inputs x are model input tensors
// (N,C,H,W) already preprocessed.
#pragma once
#include <string>
#include <vector>

#include "weights/model.h"

namespace sv {

enum class Pool { Avg, Max, None };  // φ: spatial mean (D = C), spatial max, or flatten (D = C·h·w)
Pool parse_pool(const std::string& s);  // "avg" | "max" | "none"; ValueError otherwise
const char* pool_name(Pool p);

// φ of the layer's output with the pooling applied, as a Var on g (records when g does).
Var layer_features(Model& m, Graph& g, const Var& x, const std::string& layer, Pool pool);

// (N, D) features, computed in batches of at most max_batch images.
Tensor features(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x, int64_t max_batch = 64);

// ∂<G, φ(x)>/∂x. G (N, D) -> (N, C, H, W); G (K, N, D) -> (K, N, C, H, W), one forward and
// multi-output backward passes carrying at most max_k cotangents each.
Tensor vjp(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x, const Tensor& G,
           int64_t max_k = 64);

// Rows ∂φ_d/∂x for the listed dims: (K, N, C, H, W), K = dims.size().
Tensor jacobian(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                const std::vector<int64_t>& dims, int64_t max_k = 64);

enum class IgRule { GaussLegendre, Midpoint, Trapezoid };
IgRule parse_ig_rule(const std::string& s);
// Nodes t in [0, 1] and weights (sum 1) of the quadrature rule with `steps` nodes.
void quadrature(IgRule rule, int steps, std::vector<double>& t, std::vector<double>& w);

// Integrated Gradients of <G, φ>: (x - x̄) ⊙ Σ_s w_s ∂<G, φ>/∂x (x̄ + t_s (x - x̄)).
// G (N, D) or (K, N, D) as in vjp; baseline (N, C, H, W). The interpolation points are
// batched (at most max_batch images per forward pass).
Tensor integrated_gradients(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                            const Tensor& G, const Tensor& baseline, int steps, IgRule rule, int64_t max_batch = 64);

// Baselines by name: "zero" (zeros of x's shape), "black" (the normalized image of a black
// picture: -mean/std per channel), "blur" (Gaussian blur of x, σ = 10% of width), "mean"
// (each image's per-channel mean); or a path to an .npy of x's shape.
Tensor make_baseline(const std::string& spec, const Tensor& x, const ModelInfo& info);

}  // namespace sv
