// Evidence that the maps of an explain run are faithful (docs/method.md §8), run after the
// parallel backprop on the same unique images:
//   faithfulness    deletion and insertion curves of the neuron's predicted response for
//                   four maps of every pair image: the shared map, the plain gradient of
//                   r̂, Integrated Gradients of r̂, and a random ranking (method/faithfulness.h);
//   randomisation   the shared maps recomputed with the network's weight layers re-drawn
//                   top-down, compared by Spearman's ρ and SSIM (method/randomisation.h,
//                   method/rank_stats.h).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/method/faithfulness.h"
#include "apps/method/heatmap.h"
#include "apps/method/matrix.h"
#include "apps/method/readout.h"
#include "apps/method/saliency.h"

namespace sv {

// The maps compared, in this order everywhere (results.json, the gallery).
inline constexpr std::array<const char*, 4> kFaithMethods = {"shared", "gradient", "ig", "random"};

// The random ranking of analysed image i uses random_ranking(H·W, kRandomRankingSeed + i).
inline constexpr uint64_t kRandomRankingSeed = 12345;

// A neuron's readout: r̂(x) = b + Σ_i w_i (φ_i(x) − μ_i) / σ_i over its non-constant dims.
// Its curves are normalised only where the baseline lowers r̂ by at least min_drop.
struct EvidenceReadout {
  const RidgeFit* fit = nullptr;
  const Standardizer* st = nullptr;
  double min_drop = 0;
};

// min_drop = kMinDropSd × the standard deviation of r̂ over the readout's fit images: a
// baseline that moves the response by less than half its usual spread among the preferred
// images does not remove what the neuron responds to, and the curve's ratio would be noise.
inline constexpr double kMinDropSd = 0.5;

// One image of one pair.
struct EvidenceImage {
  size_t readout = 0;            // index into the readouts
  int64_t unique = 0;            // row of the unique images xu
  int64_t image = 0;             // index among the analysed images (seeds the random ranking)
  const Tensor* shared = nullptr;  // (C, H, W) the pair's shared-map saliency for this image
  int64_t cotangent = 0;         // the shared map's cotangent row (for the randomisation check)
};

struct FaithSettings {
  std::string baseline = "blur";  // blur | zero | mean (check_faith_baseline)
  int steps = 20;
  Reduce reduce = Reduce::AbsSum;  // how a saliency becomes a per-pixel ranking (docs/method.md §5 step 1)
  AttrOptions ig;                  // the IG map's steps, rule, baseline and --max-batch
  int64_t batch = 256;             // images per forward-only pass (--feature-batch)
};

// Predicted responses r̂ of images x (n, C, H, W), row i by readout readout_of[i].
std::vector<double> predicted_responses(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                                        const std::vector<EvidenceReadout>& readouts,
                                        const std::vector<size_t>& readout_of, int64_t batch);

// Per image, the curves of each kFaithMethods map. xu (U, C, H, W) on the host.
std::vector<std::array<Curves, 4>> faithfulness(Model& m, Backend& be, const std::string& layer, Pool pool,
                                                const Tensor& xu, const std::vector<EvidenceReadout>& readouts,
                                                const std::vector<EvidenceImage>& images, const FaithSettings& s,
                                                const ProgressFn& progress = {});

struct RandomisationResult {
  std::vector<std::string> stages;         // randomised cumulatively, top first
  std::vector<std::vector<double>> spearman, ssim;  // [image][stage]
};

// The shared maps of `images` with the stages of m re-drawn cumulatively (m is changed:
// pass a copy). The maps compared are the channel reductions (`reduce`, before smoothing);
// Spearman over all pixels, SSIM of the maps each divided by its largest |value| (data
// range 1, or 2 for a signed reduction), 7×7 windows.
RandomisationResult model_randomisation(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& xu,
                                        const Mat& cot, const std::vector<EvidenceImage>& images,
                                        const AttrOptions& attr, Reduce reduce, uint64_t seed,
                                        const ProgressFn& progress = {});

}  // namespace sv
