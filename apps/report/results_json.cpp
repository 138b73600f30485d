// RunResult -> JSON.
#include "apps/report/results_json.h"

#include <algorithm>
#include <cmath>

#include "weights/atomic_file.h"
#include "apps/method/readout_quality.h"
#include "apps/report/evidence_summary.h"
#include "apps/report/readout_labels.h"

namespace sv {

namespace {

using nlohmann::json;

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json nums(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(num(x));
  return a;
}

json image_json(const RunResult& r, int64_t i) {
  if (i < 0 || i >= static_cast<int64_t>(r.images.size())) return nullptr;
  return {{"index", i}, {"id", r.images[static_cast<size_t>(i)].id}, {"category", r.images[static_cast<size_t>(i)].category}};
}

// One image's curves, by method (absent when not computed).
json faith_json(const std::vector<FaithCurves>& curves) {
  json j = json::object();
  for (const FaithCurves& c : curves)
    j[c.method] = {{"deletion", nums(c.deletion)},
                   {"insertion", nums(c.insertion)},
                   {"response_image", num(c.r_full)},
                   {"response_baseline", num(c.r_base)},
                   {"deletion_auc", num(c.deletion_auc)},
                   {"insertion_auc", num(c.insertion_auc)}};
  for (const FaithCurves& c : curves)
    if (!std::isfinite(c.deletion_auc))
      j[c.method]["auc_null_because"] = "the baseline does not lower the response by min_drop (the neuron's "
                                        "faithfulness_min_drop): the normalised curve has no meaning";
  return j;
}

json randomisation_json(const std::vector<RandomisationPoint>& pts) {
  json a = json::array();
  for (const RandomisationPoint& p : pts)
    a.push_back({{"stage", p.stage}, {"spearman", num(p.spearman)}, {"ssim", num(p.ssim)}});
  return a;
}

json faith_summary_json(const std::vector<const NeuronResult*>& neurons) {
  json a = json::array();
  for (const FaithSummary& s : faith_summary(neurons))
    a.push_back({{"method", s.method},
                 {"images", s.images},
                 {"deletion_auc", num(s.deletion_auc)},
                 {"insertion_auc", num(s.insertion_auc)},
                 {"deletion_beats_random", num(s.deletion_beats_random)},
                 {"insertion_beats_random", num(s.insertion_beats_random)},
                 {"mean_deletion_curve", nums(s.deletion_curve)},
                 {"mean_insertion_curve", nums(s.insertion_curve)}});
  return a;
}

json randomisation_summary_json(const std::vector<const NeuronResult*>& neurons) {
  json a = json::array();
  for (const RandomisationSummary& s : randomisation_summary(neurons))
    a.push_back({{"stage", s.stage}, {"images", s.images}, {"spearman", num(s.spearman)}, {"ssim", num(s.ssim)}});
  return a;
}

json pair_json(const RunResult& r, const NeuronResult& n, const PairResult& p) {
  json cands = json::array();
  for (const ReferenceCandidate& c : p.candidates) {
    json j = image_json(r, c.image);
    j["score"] = num(c.score);
    cands.push_back(j);
  }
  json dims = json::array();
  for (const SharedDim& d : p.top_dims) dims.push_back({{"dim", d.dim}, {"alpha", num(d.alpha)}, {"share", num(d.alpha)}});
  json decomp = json::array();
  for (const DecompositionPanel& d : p.decomposition)
    decomp.push_back({{"dim", d.dim},
                      {"alpha", num(d.alpha)},
                      {"heatmap_scale", num(d.scale)},
                      {"own_scale", num(d.own_scale)},
                      {"png", d.png}});
  json ooc = image_json(r, p.ooc), ref = image_json(r, p.ref);
  ooc["recorded"] = num(p.ooc_recorded);
  ooc["predicted"] = num(p.ooc_predicted);
  ooc["predicted_in_sample"] = p.ooc_fitted;
  ooc["percentile_in_preferred"] = num(p.ooc_percentile);
  ooc["shared_response"] = num(p.shared_ooc);
  ooc["ig_completeness_gap"] = num(p.ig_gap_ooc);
  ooc["saliency_npy"] = p.npy_ooc;
  ooc["overlay_png"] = p.png_ooc;
  ooc["image_png"] = p.png_ooc_image;
  ref["recorded"] = num(p.ref_recorded);
  ref["predicted"] = num(p.ref_predicted);
  ref["predicted_in_sample"] = true;  // references are preferred images: always in the fit set
  ref["shared_response"] = num(p.shared_ref);
  ref["ig_completeness_gap"] = num(p.ig_gap_ref);
  ref["saliency_npy"] = p.npy_ref;
  ref["overlay_png"] = p.png_ref;
  ref["image_png"] = p.png_ref_image;
  if (!p.faith_ooc.empty()) ooc["faithfulness"] = faith_json(p.faith_ooc);
  if (!p.faith_ref.empty()) ref["faithfulness"] = faith_json(p.faith_ref);
  if (!p.rand_ooc.empty()) ooc["randomisation"] = randomisation_json(p.rand_ooc);
  if (!p.rand_ref.empty()) ref["randomisation"] = randomisation_json(p.rand_ref);
  return {{"ooc", ooc},
          {"reference", ref},
          {"similarity", num(p.similarity)},
          {"candidates", cands},
          {"alpha_l1_before_normalization", num(p.alpha_l1)},
          {"shared_dims", p.shared_dims},
          {"top_dims", dims},
          {"top_dims_share", num(p.top_share)},
          {"heatmap_scale", num(p.scale)},
          {"maps_are_evidence", n.maps_are_evidence()},
          {"pair_png", p.png_pair},
          {"decomposition", decomp}};
}

json neuron_json(const RunResult& r, const NeuronResult& n) {
  json j = {{"name", n.name}, {"preferred", n.preferred}, {"skipped", n.skipped}};
  if (n.skipped) {
    j["skip_reason"] = n.skip_reason;
    return j;
  }
  j["n_fit"] = n.n_fit;
  j["n_preferred"] = n.n_preferred;
  j["n_ooc"] = n.n_ooc;
  j["repeats"] = n.repeats;
  j["lambda"] = num(n.lambda);
  const bool at_edge = std::any_of(n.flags.begin(), n.flags.end(), [](const ReadoutFlagResult& f) {
    return f.code == "lambda_at_upper_edge" || f.code == "lambda_at_lower_edge";
  });
  j["lambda_at_grid_edge"] = at_edge;
  // The r values, each with what it is; the flat keys below are the same numbers.
  json rs = json::object();
  for (const LabelledR& x : readout_rs(n)) {
    rs[x.key] = {{"value", num(x.value)}, {"kind", x.kind}, {"label", x.label}, {"n", x.n}};
    if (!x.absent.empty()) rs[x.key]["absent_because"] = x.absent;
  }
  j["r"] = rs;
  j["cv_score"] = num(n.cv_score);
  j["cv_curve"] = nums(n.cv_curve);
  j["r_within"] = num(n.r_within);
  j["r_ooc"] = num(n.r_ooc);
  j["reliability"] = num(n.reliability);
  j["reliability_within"] = num(n.reliability_within);
  // Readout checks (apps/method/readout_quality.h).
  json flags = json::array();
  for (const ReadoutFlagResult& f : n.flags)
    flags.push_back({{"code", f.code}, {"reason", f.reason}, {"remedy", f.remedy}});
  j["readout_check"] = {{"flagged", !n.flags.empty()},
                        {"maps_are_evidence", n.maps_are_evidence()},
                        {"prediction_sd_ratio", num(n.prediction_sd_ratio)},
                        {"oof_prediction_sd_ratio", num(n.oof_sd_ratio)},
                        {"near_constant_below", kNearConstantRatio},
                        {"flags", flags}};
  j["mean_response"] = {{"preferred", num(n.mean_preferred)}, {"ooc", num(n.mean_ooc)}, {"all", num(n.mean_all)}};
  // Selectivity (apps/method/selectivity.h): unchanged by a shift or scale of the responses.
  j["selectivity"] = {{"top_k", n.top_k},
                      {"top_ooc_share", num(n.top_ooc_share)},
                      {"chance_share", num(n.chance_share)},
                      {"top_ooc_percentile", num(n.top_ooc_percentile)},
                      {"mean_ratio", num(n.mean_ratio)},
                      {"definitions",
                       {{"top_ooc_share", "among the neuron's top_k highest responses (top_k = the number of "
                                          "preferred images), the fraction to ooc images; chance_share = "
                                          "n_ooc / n_images is the value for a response blind to the category"},
                        {"top_ooc_percentile", "mean over the top ooc images (by recorded response, the explained "
                                               "ones) of each one's percentile rank among the preferred images' "
                                               "responses: 100 (#below + #equal / 2) / n_preferred"},
                        {"mean_ratio", "mean ooc response / mean response (the paper's Fig. 3b); null unless "
                                       "every response is >= 0"}}}};
  j["ooc_mean_relative"] = num(n.mean_ratio);
  json pairs = json::array();
  for (const PairResult& p : n.pairs) pairs.push_back(pair_json(r, n, p));
  j["pairs"] = pairs;
  if (!r.faithfulness.is_null()) {
    j["faithfulness_min_drop"] = num(n.faith_min_drop);
    j["faithfulness_summary"] = faith_summary_json({&n});
  }
  if (!r.randomisation.is_null()) j["randomisation_summary"] = randomisation_summary_json({&n});
  return j;
}

}  // namespace

nlohmann::json results_json(const RunResult& r) {
  json neurons = json::array();
  for (const NeuronResult& n : r.neurons) neurons.push_back(neuron_json(r, n));
  int64_t skipped = 0;
  for (const NeuronResult& n : r.neurons) skipped += n.skipped ? 1 : 0;
  json faith = r.faithfulness, rnd = r.randomisation;
  if (!faith.is_null()) faith["summary"] = faith_summary_json(fitted_neurons(r));
  if (!rnd.is_null()) rnd["summary"] = randomisation_summary_json(fitted_neurons(r));
  return {{"tool", "sharedvis explain"},
          {"method", "Parallel Backpropagation for Shared-Feature Visualization (Lappe et al., NeurIPS 2024)"},
          {"title", r.title},
          {"choices", r.choices},
          {"inputs", r.inputs},
          {"lambda_grid", nums(r.lambdas)},
          {"n_images", r.images.size()},
          {"n_neurons", r.neurons.size()},
          {"n_skipped", skipped},
          {"readout_file", r.readout_file},
          {"neurons", neurons},
          {"faithfulness", faith},
          {"randomisation", rnd},
          {"timing_seconds", r.timing}};
}

void write_results_json(const std::string& path, const RunResult& r) {
  const std::string text = results_json(r).dump(2) + "\n";
  write_file_atomic(path, {{text.data(), text.size()}});
}

}  // namespace sv
