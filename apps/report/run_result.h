// What a run found, in the form the report writers need: per neuron its readout
// statistics and the explained pairs with the files that show them. Filled in by
// apps/explain.cpp, written by results_json.cpp and gallery.cpp.
#pragma once
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sv {

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

struct ReferenceCandidate {
  int64_t image = -1;  // index into RunResult::images
  double score = 0;
};

struct SharedDim {
  int64_t dim = -1;
  double alpha = 0;  // normalized α: the dimension's share of Σ|α|
};

// One per-dimension decomposition panel: α_d ∂c_d/∂x for both images of the pair.
struct DecompositionPanel {
  int64_t dim = -1;
  double alpha = 0;
  double scale = 0;      // the scale the panel is drawn on (the pair's, by default)
  double own_scale = 0;  // the clip percentile of the panel's own two maps
  std::string png;       // ooc | reference overlays side by side
};

// Deletion and insertion curves of one map of one image (apps/method/faithfulness.h).
struct FaithCurves {
  std::string method;                       // shared | gradient | ig | random
  std::vector<double> deletion, insertion;  // (steps + 1) predicted responses r̂
  double r_full = kNoValue, r_base = kNoValue;            // r̂ of the image and of its baseline
  double deletion_auc = kNoValue, insertion_auc = kNoValue;  // normalised areas
};

// The shared map of one image after each cumulative randomisation stage, against the
// original (apps/explain_evidence.h).
struct RandomisationPoint {
  std::string stage;  // the weight layer randomised last (those above it are random too)
  double spearman = kNoValue, ssim = kNoValue;
};

struct PairResult {
  int64_t ooc = -1, ref = -1;  // indices into RunResult::images
  double ooc_recorded = kNoValue, ooc_predicted = kNoValue;
  double ref_recorded = kNoValue, ref_predicted = kNoValue;
  bool ooc_fitted = false;     // the ooc image is in the readout's fit set (its prediction is in-sample)
  double ooc_percentile = kNoValue;  // percentile rank of ooc_recorded among the preferred responses
  double similarity = kNoValue;
  std::vector<ReferenceCandidate> candidates;  // top-k, best first (the first is ref)
  std::vector<SharedDim> top_dims;
  double top_share = 0;        // Σ of the top dims' α
  int64_t shared_dims = 0;     // dimensions with α > 0
  double alpha_l1 = 0;         // Σ|α| before normalization (0: nothing shared)
  double shared_ooc = kNoValue, shared_ref = kNoValue;  // R_α(x) = Σ α_i c_i(x)
  double scale = 0;            // the common normalization scale of the pair's two maps
  double ig_gap_ooc = kNoValue, ig_gap_ref = kNoValue;  // IG completeness gaps
  // Files, relative to the output folder.
  std::string png_pair;        // ooc | reference overlays side by side
  std::string png_ooc, png_ref;            // the overlays
  std::string png_ooc_image, png_ref_image;  // the images as the model sees them
  std::string npy_ooc, npy_ref;            // raw (C, H, W) saliency, float32
  std::vector<DecompositionPanel> decomposition;
  // Evidence (docs/method.md §8); empty when not computed.
  std::vector<FaithCurves> faith_ooc, faith_ref;          // one per method
  std::vector<RandomisationPoint> rand_ooc, rand_ref;     // one per stage, top first
};

// Why a readout's maps are not evidence (apps/method/readout_quality.h).
struct ReadoutFlagResult {
  std::string code, reason, remedy;
};

struct NeuronResult {
  std::string name;
  std::string preferred;      // the preferred category
  bool skipped = false;
  std::string skip_reason;
  int64_t n_fit = 0, n_preferred = 0, n_ooc = 0;
  int repeats = 1;
  // The r values; what each one is: apps/method/readout_quality.h, labels: readout_labels.h.
  double lambda = kNoValue, cv_score = kNoValue;  // cv_score: per-fold mean out-of-fold r at λ
  double r_within = kNoValue;                     // pooled out-of-fold, preferred images
  double r_ooc = kNoValue;                        // held-out: the ooc images outside the fit set
  double r_ooc_oof = kNoValue;                    // pooled out-of-fold, ooc images inside the fit set
  int folds = 0;
  int64_t n_ooc_held_out = 0, n_ooc_oof = 0;
  double reliability = kNoValue, reliability_within = kNoValue;  // split-half, Spearman–Brown
  double mean_preferred = kNoValue, mean_ooc = kNoValue, mean_all = kNoValue;
  // Selectivity (apps/method/selectivity.h): unchanged by a shift or scale of the responses.
  int64_t top_k = 0;                       // K: the number of preferred images
  double top_ooc_share = kNoValue;         // ooc share of the K highest responses
  double chance_share = kNoValue;          // n_ooc / N
  double top_ooc_percentile = kNoValue;    // mean percentile of the top ooc responses among the preferred
  double mean_ratio = kNoValue;            // mean ooc / mean, only for non-negative responses
  std::vector<double> cv_curve;  // mean held-out r per λ of the grid
  // Readout checks: an empty `flags` means nothing was found.
  double prediction_sd_ratio = kNoValue, oof_sd_ratio = kNoValue;
  std::vector<ReadoutFlagResult> flags;
  bool maps_are_evidence() const { return flags.empty(); }
  // (recorded, predicted) for the Fig. 3a scatter; within: out-of-fold predictions; ooc:
  // the final readout on held-out images, out-of-fold predictions on fitted ones.
  std::vector<std::array<double, 2>> within_points, ooc_points;
  std::vector<PairResult> pairs;
  double faith_min_drop = kNoValue;  // the least r̂(image) − r̂(baseline) whose curves are normalised
};

struct ImageInfo {
  std::string id;        // path, or "fashion-mnist test #123"
  std::string category;
};

struct RunResult {
  std::string title;
  nlohmann::json choices;     // every option and choice the run used
  nlohmann::json inputs;      // model, data and source descriptions
  std::vector<double> lambdas;
  std::vector<ImageInfo> images;   // the analysed images
  std::vector<NeuronResult> neurons;
  nlohmann::json faithfulness;   // its settings (null: not computed)
  nlohmann::json randomisation;  // its settings and stages (null: not computed)
  nlohmann::json timing;      // seconds per stage
  std::string readout_file;   // relative path
};

}  // namespace sv
