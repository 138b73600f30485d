// Parallel backpropagation (docs/method.md §4): the saliency of the shared response
//   R_α(x) = Σ_i α_i c_i(x),   S(x) = ∂R_α/∂x = Σ_i (α_i w_i / σ_i) ∂φ_i/∂x,
// i.e. one vector–Jacobian product of φ with the cotangent g_i = α_i w_i / σ_i.
//
// A run has many such products: every (neuron, pair) gives one cotangent for each of the
// pair's two images, and the per-dimension decomposition (α_i ∂c_i/∂x for the top shared
// dims) gives more. parallel_backprop packs them ALL into multi-output backward passes
// over the UNIQUE images: image u with k_u cotangents fills slots 0 .. k_u − 1 of
// G (K, N, D), K = max k_u over a batch, so each image is forwarded once per batch and
// every cotangent of every image rides the same backward pass. Images are batched by
// --max-batch (images per forward) and K is chunked so that K · N stays within it too;
// the results do not depend on either.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/enum_names.h"
#include "apps/method/matrix.h"
#include "apps/method/readout.h"
#include "apps/primitives.h"

namespace sv {

enum class Attr { Grad, IG };
inline constexpr std::array<EnumName<Attr>, 2> kAttrNames{{{"grad", Attr::Grad}, {"ig", Attr::IG}}};
inline Attr parse_attr(const std::string& s) { return parse_enum(kAttrNames, s, "--attr"); }
inline const char* attr_name(Attr v) { return enum_name(kAttrNames, v); }

struct AttrOptions {
  Attr attr = Attr::Grad;
  int steps = 32;                      // IG quadrature nodes
  IgRule rule = IgRule::GaussLegendre;
  std::string baseline = "zero";       // see make_baseline
  int64_t max_batch = 64;              // images (or images × cotangents) per pass
};

// g_i = α_i w_i / σ_i (0 where the dimension is constant): the cotangent of R_α.
std::vector<double> shared_cotangent(const std::vector<double>& alpha, const std::vector<double>& w,
                                     const Standardizer& st);
// The cotangent of the single term α_d c_d: only entry d is non-zero.
std::vector<double> dimension_cotangent(int64_t d, const std::vector<double>& alpha, const std::vector<double>& w,
                                        const Standardizer& st);

// One vector–Jacobian product to compute: cotangent row `cotangent` of the cotangent
// matrix applied to image `image`.
struct BackpropJob {
  int64_t image = 0;
  int64_t cotangent = 0;
};

struct BackpropResult {
  std::vector<Tensor> saliency;  // per job: (C, H, W) host, the model's dtype
  std::vector<double> ig_gap;    // per job: IG completeness gap (NaN for grad)
  int64_t forward_batches = 0;   // image batches forwarded
  int64_t max_k = 0;             // the largest number of cotangents one image carried
};

// How parallel_backprop batches `jobs` over U images, max_batch images per pass: the
// images with jobs, most jobs first, in batches of max_batch; each batch carries as many
// cotangents as its first image has jobs.
struct BackpropShape {
  int64_t forward_batches = 0;  // image batches forwarded
  int64_t max_k = 0;            // the largest number of cotangents one image carries
};
BackpropShape backprop_shape(const std::vector<BackpropJob>& jobs, int64_t U, int64_t max_batch);

// x (U, C, H, W) the unique images, cot (J, D) the cotangents, jobs referring to both.
// progress counts (image, cotangent) products done out of the total.
BackpropResult parallel_backprop(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                                 const Mat& cot, const std::vector<BackpropJob>& jobs, const AttrOptions& opt,
                                 const ProgressFn& progress = {});

}  // namespace sv
