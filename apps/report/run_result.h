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

struct PairResult {
  int64_t ooc = -1, ref = -1;  // indices into RunResult::images
  double ooc_recorded = kNoValue, ooc_predicted = kNoValue;
  double ref_recorded = kNoValue, ref_predicted = kNoValue;
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
};

struct NeuronResult {
  std::string name;
  std::string preferred;      // the preferred category
  bool skipped = false;
  std::string skip_reason;
  int64_t n_fit = 0, n_preferred = 0, n_ooc = 0;
  int repeats = 1;
  double lambda = kNoValue, cv_score = kNoValue;
  double r_within = kNoValue, r_ooc = kNoValue;
  double reliability = kNoValue, reliability_within = kNoValue;  // split-half, Spearman–Brown
  double mean_preferred = kNoValue, mean_ooc = kNoValue, mean_all = kNoValue;
  std::vector<double> cv_curve;  // mean held-out r per λ of the grid
  // (recorded, predicted) for the Fig. 3a scatter; within: out-of-fold predictions.
  std::vector<std::array<double, 2>> within_points, ooc_points;
  std::vector<PairResult> pairs;
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
  nlohmann::json timing;      // seconds per stage
  std::string readout_file;   // relative path
};

}  // namespace sv
