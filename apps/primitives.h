// The research primitives on a model: features φ(x) at a layer, multi-output
// vector-Jacobian products, Jacobian rows and Integrated Gradients. All take and return
// host tensors; the work runs on the given backend. Inputs x are model input tensors
// (N,C,H,W) already preprocessed.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "apps/enum_names.h"
#include "weights/model.h"

namespace sv {

// Reports progress of a long computation: done out of total units (images, cotangents).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// φ: spatial mean (D = C), spatial max, or flatten (D = C·h·w). The gradient of the max
// goes to the first maximal position of each channel (max-pool semantics); torch's amax
// splits it among exact ties, which only differ for channels with repeated maxima.
enum class Pool { Avg, Max, None };
inline constexpr std::array<EnumName<Pool>, 3> kPoolNames{{{"avg", Pool::Avg}, {"max", Pool::Max}, {"none", Pool::None}}};
inline Pool parse_pool(const std::string& s) { return parse_enum(kPoolNames, s, "pooling"); }
inline const char* pool_name(Pool v) { return enum_name(kPoolNames, v); }

// φ of the layer's output with the pooling applied, as a Var on g (records when g does).
// The forward pass stops at the layer (Forward stop_at). Pooling applies to 4-D outputs
// (N, C, h, w); a 2-D output (N, D) such as a Linear layer's is φ itself for every pool.
// The model's parameters must be on g's backend (see model_to).
Var layer_features(Model& m, Graph& g, const Var& x, const std::string& layer, Pool pool);
// The pooling of layer_features on a layer's output y (named `layer` in errors).
Var pool_features(const Var& y, const std::string& layer, Pool pool);

// The first module, in forward order up to `layer` and unfused, whose output for the images
// x holds a NaN or an infinity: "layer2.1.relu: inf at index 12 of (1, 128, 28, 28)"; "" when every
// output is finite. A diagnosis (it downloads every module's output), for errors only.
std::string first_nonfinite_module(Model& m, Backend& be, const std::string& layer, const Tensor& x);

// Moves the model's tensors to be's device unless they are there already.
void model_to(Model& m, Backend& be);

// (N, D) features, computed in batches of at most max_batch images.
Tensor features(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x, int64_t max_batch = 64,
                const ProgressFn& progress = {});

// φ at several layers from one forward pass per batch of at most max_batch images: each
// layer's output is made as if the pass stopped there (Forward::keep), so result k equals
// features(m, be, layers[k].layer, layers[k].pool, x, max_batch) bit for bit.
struct FeatureLayer {
  std::string layer;
  Pool pool = Pool::Avg;
};
std::vector<Tensor> features_at(Model& m, Backend& be, const std::vector<FeatureLayer>& layers, const Tensor& x,
                                int64_t max_batch = 64, const ProgressFn& progress = {});

// ∂<G, φ(x)>/∂x. G (N, D) -> (N, C, H, W); G (K, N, D) -> (K, N, C, H, W), one forward and
// multi-output backward passes carrying at most max_k cotangents each.
Tensor vjp(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x, const Tensor& G,
           int64_t max_k = 64, const ProgressFn& progress = {});

// Rows ∂φ_d/∂x for the listed dims: (K, N, C, H, W), K = dims.size().
// Every dim must lie in [0, D); ValueError naming D otherwise.
Tensor jacobian(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                const std::vector<int64_t>& dims, int64_t max_k = 64, const ProgressFn& progress = {});

enum class IgRule { GaussLegendre, Midpoint, Trapezoid };
inline constexpr std::array<EnumName<IgRule>, 3> kIgRuleNames{{{"gausslegendre", IgRule::GaussLegendre}, {"midpoint", IgRule::Midpoint}, {"trapezoid", IgRule::Trapezoid}}};
inline IgRule parse_ig_rule(const std::string& s) { return parse_enum(kIgRuleNames, s, "IG rule"); }
inline const char* ig_rule_name(IgRule v) { return enum_name(kIgRuleNames, v); }
// Nodes t in [0, 1] and weights (sum 1) of the quadrature rule with `steps` nodes:
// Gauss–Legendre (steps >= 1; exact for polynomials of degree 2·steps − 1), midpoint
// (steps >= 1), trapezoid (steps >= 2, including both ends).
void quadrature(IgRule rule, int steps, std::vector<double>& t, std::vector<double>& w);

// Integrated Gradients of <G, φ>: (x - x̄) ⊙ Σ_s w_s ∂<G, φ>/∂x (x̄ + t_s (x - x̄)).
// G (N, D) or (K, N, D) as in vjp; baseline (N, C, H, W). The interpolation points are
// batched (at most max_batch images per forward pass).
Tensor integrated_gradients(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                            const Tensor& G, const Tensor& baseline, int steps, IgRule rule, int64_t max_batch = 64,
                            const ProgressFn& progress = {});

// IG's completeness gap per (cotangent, image), K-major: |Σ S − Δ| / |Δ| with
// Δ = <G, φ(x)> − <G, φ(x̄)>. S as returned by integrated_gradients, G (N, D) or (K, N, D),
// phi_x and phi_baseline (N, D). |Δ| = 0 gives the absolute gap |Σ S|.
std::vector<double> ig_completeness_gap(const Tensor& S, const Tensor& G, const Tensor& phi_x,
                                        const Tensor& phi_baseline);

// Baselines by name: "zero" (zeros of x's shape), "black" (the normalized image of a black
// picture: -mean/std per channel), "blur" (Gaussian blur of x, σ = 10% of width), "mean"
// (each image's per-channel mean); or a path to an .npy of x's shape.
Tensor make_baseline(const std::string& spec, const Tensor& x, const ModelInfo& info);

}  // namespace sv
