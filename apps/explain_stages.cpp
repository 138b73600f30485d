// The model, features, pairs, backprop and evidence stages of `sharedvis explain`
// (apps/explain_stages.h). The math lives in apps/method/; this file feeds it.
#include "apps/explain_stages.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "apps/explain_evidence.h"
#include "apps/explain_stage_util.h"
#include "apps/method/references.h"
#include "apps/method/selectivity.h"
#include "apps/method/shared.h"
#include "apps/report/progress.h"

namespace sv {

LoadedModel load_model_stage(const ModelConfig& c) {
  LoadedModel m;
  m.path = c.path.empty() ? bundled_model_path() : c.path;
  if (c.path.empty())
    SV_CHECK(std::filesystem::exists(m.path), IoError,
             m.path + ": the bundled model is missing (train it with `sharedvis train`, pass --model, or set "
                      "SHAREDVIS_MODEL_DIR)");
  m.model = load_model(m.path);
  m.layer = c.layer.empty() ? default_layer(m.model) : c.layer;
  SV_CHECK(!m.layer.empty(), ValueError, "--layer is required for " + m.model.info.arch);
  m.model.check_layer(m.layer);
  // --threads sizes the CPU backend of --device cpu; auto and cuda keep their own choice.
  m.be = c.device == "cpu" ? make_cpu_backend(false, c.threads) : make_backend(c.device);
  model_to(m.model, *m.be);
  return m;
}

Features features_stage(const ExplainConfig& c, LoadedModel& m, const Tensor& x, const SourcePlan& plan,
                        int64_t first_image) {
  std::vector<FeatureLayer> layers = {{m.layer, c.model.pool}};
  if (plan.needed) layers.push_back(plan.layer);
  ProgressLine line("features", "img", c.progress);
  std::vector<Tensor> out = features_at(m.model, *m.be, layers, x, c.model.feature_batch,
                                        [&](int64_t d, int64_t n) { line.update(d, n); });
  line.finish();
  Features f;
  f.phi = std::move(out[0]);
  if (plan.needed) f.source = std::move(out[1]);
  if (const int64_t i = first_nonfinite(f.phi); i >= 0) {
    const int64_t D = f.phi.dim(1);
    throw ValueError("the features (" + m.layer + ") of image " + std::to_string(first_image + i / D) +
                     " are not finite (" + std::to_string(f.phi.item(i)) + " in dim " + std::to_string(i % D) +
                     "): the image or the model produces values too large for float32");
  }
  return f;
}

namespace {

// A cotangent for the pair (a, b): one row of p.cot and a job for each image.
int64_t add_cotangent(Pairs& p, const std::vector<double>& g, int64_t a, int64_t b) {
  auto unique_index = [&](int64_t i) {
    if (p.unique_of[static_cast<size_t>(i)] < 0) {
      p.unique_of[static_cast<size_t>(i)] = static_cast<int64_t>(p.unique_images.size());
      p.unique_images.push_back(i);
    }
    return p.unique_of[static_cast<size_t>(i)];
  };
  p.cot.v.insert(p.cot.v.end(), g.begin(), g.end());
  const int64_t row = p.cot.rows++;
  p.jobs.push_back({unique_index(a), row});
  p.jobs.push_back({unique_index(b), row});
  return row;
}

}  // namespace

// Top ooc images by recorded response, each with its most similar preferred image, α, the
// top shared dims, and the cotangents of the pair (shared response + decomposition).
Pairs pairs_stage(const PairConfig& c, const Readouts& readouts, const Analysed& data, const std::vector<size_t>& fitted) {
  const auto N = static_cast<int64_t>(data.images.size());
  Pairs out;
  out.cot = Mat(0, data.phi.cols);
  out.unique_of.assign(static_cast<size_t>(N), -1);
  std::vector<size_t> which = fitted;
  if (which.empty())
    for (size_t k = 0; k < readouts.fitted.size(); ++k) which.push_back(k);
  for (size_t k : which) {
    const NeuronReadout& w = readouts.fitted.at(k);
    const NeuronResult& nr = readouts.neurons[w.neuron];
    const Mat& Z = readouts.Z(w);
    const Standardizer& st = readouts.st(w);
    const std::vector<double>& wt = w.fit_result.w;
    const std::vector<double> pred = predict(w.fit_result, Z);
    const Mat Cref = contributions(wt, Z, w.pref);
    const std::vector<double> y_pref = gather(w.y, w.pref);
    std::vector<bool> in_fit(static_cast<size_t>(N), false);
    for (int64_t i : w.fit) in_fit[static_cast<size_t>(i)] = true;
    for (int64_t o : top_by_response(w.y, w.ooc, c.top_ooc)) {
      const std::vector<double> c_o = contributions(wt, Z, {o}).v;
      const std::vector<Candidate> cands = top_references(c.similarity, c_o, Cref, w.pref, c.top_k);
      const int64_t ref = cands.front().image;
      const std::vector<double> c_r = contributions(wt, Z, {ref}).v;
      PairResult p;
      p.ooc = o;
      p.ref = ref;
      p.ooc_recorded = w.y[static_cast<size_t>(o)];
      p.ooc_predicted = pred[static_cast<size_t>(o)];
      p.ref_recorded = w.y[static_cast<size_t>(ref)];
      p.ref_predicted = pred[static_cast<size_t>(ref)];
      p.ooc_fitted = in_fit[static_cast<size_t>(o)];
      p.ooc_percentile = percentile_rank(y_pref, p.ooc_recorded);
      p.similarity = cands.front().score;
      for (const Candidate& cand : cands) p.candidates.push_back({cand.image, cand.score});
      const std::vector<double> alpha = shared_weights(c.shared, c_o, c_r, &p.alpha_l1);
      for (const TopDim& d : top_dims(alpha, c.top_dims)) {
        p.top_dims.push_back({d.dim, d.alpha});
        p.top_share += d.alpha;
      }
      p.shared_dims = std::count_if(alpha.begin(), alpha.end(), [](double a) { return a > 0; });
      p.shared_ooc = p.shared_ref = 0;
      for (size_t i = 0; i < alpha.size(); ++i) {
        p.shared_ooc += alpha[i] * c_o[i];
        p.shared_ref += alpha[i] * c_r[i];
      }
      const std::vector<double> shared = shared_cotangent(alpha, wt, st);
      require_finite(shared, "neuron '" + nr.name + "', ooc image " + std::to_string(o) + ": the shared-feature cotangent",
                     "α or the readout overflows double arithmetic (are the responses of a sane magnitude?)");
      PairPlan plan;
      plan.neuron = w.neuron;
      plan.fitted = k;
      plan.cot = add_cotangent(out, shared, o, ref);
      for (const SharedDim& d : p.top_dims)
        plan.dim_cots.push_back(add_cotangent(out, dimension_cotangent(d.dim, alpha, wt, st), o, ref));
      plan.pair = std::move(p);
      out.plans.push_back(std::move(plan));
    }
  }
  return out;
}

Tensor unique_image_batch(const Analysed& data, const Pairs& pairs) { return data.pixels(pairs.unique_images); }

Maps backprop_stage(const ExplainConfig& c, LoadedModel& m, const Analysed& data, const Pairs& pairs) {
  Maps maps;
  if (pairs.jobs.empty()) return maps;
  maps.xu = unique_image_batch(data, pairs);
  ProgressLine line("backprop", "maps", c.progress);
  maps.bp = parallel_backprop(m.model, *m.be, m.layer, c.model.pool, maps.xu, pairs.cot, pairs.jobs, c.attr,
                              [&](int64_t d, int64_t n) { line.update(d, n); });
  line.finish();
  for (size_t j = 0; j < maps.bp.saliency.size(); ++j)
    if (const int64_t i = first_nonfinite(maps.bp.saliency[j]); i >= 0)
      throw ValueError("the saliency map of image " +
                       std::to_string(pairs.unique_images[static_cast<size_t>(pairs.jobs[j].image)]) + " (cotangent " +
                       std::to_string(pairs.jobs[j].cotangent) + ") is not finite (" +
                       std::to_string(maps.bp.saliency[j].item(i)) + " at index " + std::to_string(i) + ")");
  return maps;
}

nlohmann::json backprop_description(const Pairs& pairs, int64_t max_batch) {
  const BackpropShape s = backprop_shape(pairs.jobs, static_cast<int64_t>(pairs.unique_images.size()), max_batch);
  return {{"cotangents", pairs.cot.rows},
          {"unique_images", pairs.unique_images.size()},
          {"vjp_jobs", pairs.jobs.size()},
          {"forward_batches", s.forward_batches},
          {"max_cotangents_per_image", s.max_k}};
}

namespace {

// The readouts and pair images that the evidence stages work on.
struct EvidenceInputs {
  std::vector<EvidenceReadout> readouts;  // per fitted readout
  std::vector<EvidenceImage> images;      // per plan: its ooc image, then its reference
};

// Every fitted readout, its min_drop computed for those with pairs only (a staged pairs task
// holds a slice of them; the others' min_drop is NaN and unused).
EvidenceInputs evidence_inputs(const Readouts& r, const Pairs& pairs, const Maps& maps) {
  EvidenceInputs ev;
  std::vector<bool> used(r.fitted.size(), false);
  for (const PairPlan& pl : pairs.plans) used[pl.fitted] = true;
  for (size_t k = 0; k < r.fitted.size(); ++k) {
    const NeuronReadout& w = r.fitted[k];
    double min_drop = kNoValue;
    if (used[k]) {
      const std::vector<double> fit_pred = gather(predict(w.fit_result, r.Z(w)), w.fit);
      double mean = 0, var = 0;
      for (double v : fit_pred) mean += v / static_cast<double>(fit_pred.size());
      for (double v : fit_pred) var += (v - mean) * (v - mean) / static_cast<double>(fit_pred.size());
      min_drop = kMinDropSd * std::sqrt(var);
    }
    ev.readouts.push_back({&w.fit_result, &r.st(w), min_drop});
  }
  for (const PairPlan& pl : pairs.plans) {
    const auto jo = static_cast<size_t>(2 * pl.cot);  // the pair's two jobs: ooc, reference
    for (const auto& [img, job] : {std::make_pair(pl.pair.ooc, jo), std::make_pair(pl.pair.ref, jo + 1)})
      ev.images.push_back({pl.fitted, pairs.unique_of[static_cast<size_t>(img)], img, &maps.bp.saliency[job], pl.cot});
  }
  return ev;
}

// Deletion and insertion curves of the shared, gradient, IG and random maps (§8).
void faithfulness_part(const ExplainConfig& c, LoadedModel& m, const EvidenceInputs& ev, const Pairs& pairs,
                       const Maps& maps, Evidence& out) {
  FaithSettings s;
  s.baseline = c.evidence.faith_baseline;
  s.steps = c.evidence.faith_steps;
  s.reduce = c.heat.reduce;
  s.ig = c.attr;
  s.batch = c.model.feature_batch;
  ProgressLine line("faithfulness", "img", c.progress);
  const auto curves = faithfulness(m.model, *m.be, m.layer, c.model.pool, maps.xu, ev.readouts, ev.images, s,
                                   [&](int64_t d, int64_t n) { line.update(d, n); });
  line.finish();
  for (size_t k = 0; k < ev.readouts.size(); ++k) out.min_drop[k] = ev.readouts[k].min_drop;
  size_t e = 0;
  for (size_t p = 0; p < pairs.plans.size(); ++p) {
    for (std::vector<FaithCurves>* side : {&out.pairs[p].faith_ooc, &out.pairs[p].faith_ref}) {
      for (size_t k = 0; k < kFaithMethods.size(); ++k) {
        const Curves& cv = curves[e][k];
        side->push_back({kFaithMethods[k], cv.deletion, cv.insertion, cv.r_full, cv.r_base, cv.deletion_auc,
                         cv.insertion_auc});
      }
      ++e;
    }
  }
  out.faithfulness = {{"steps", s.steps},
                      {"baseline", s.baseline},
                      {"methods", kFaithMethods},
                      {"response", "the neuron's predicted response r̂ = b + Σ w_i z_i (docs/method.md §8)"},
                      {"ranking", std::string("pixels by the map's channel reduction (") + reduce_name(s.reduce) +
                                      "), before smoothing, largest first"},
                      {"random_ranking_seed", "std::mt19937_64(" + std::to_string(kRandomRankingSeed) +
                                                  " + the image's index among the analysed images)"},
                      {"auc", "trapezoid over the fraction of pixels changed of (r_k - r_base) / (r_full - r_base)"},
                      {"min_drop", "AUCs are null where r_full - r_base < " + std::to_string(kMinDropSd) +
                                       " x the sd of r_hat over the neuron's fit images (min_drop per neuron)"}};
}

// The model-randomisation check (§8): the shared maps with the weights re-drawn top-down.
void randomisation_part(const ExplainConfig& c, LoadedModel& m, const EvidenceInputs& ev, const Pairs& pairs,
                        const Maps& maps, Evidence& out) {
  Model copy = load_model(m.path);
  model_to(copy, *m.be);
  ProgressLine line("randomisation", "stages", c.progress);
  const RandomisationResult rr =
      model_randomisation(copy, *m.be, m.layer, c.model.pool, maps.xu, pairs.cot, ev.images, c.attr, c.heat.reduce,
                          c.evidence.randomisation_seed, [&](int64_t d, int64_t n) { line.update(d, n); });
  line.finish();
  size_t e = 0;
  for (size_t p = 0; p < pairs.plans.size(); ++p) {
    for (std::vector<RandomisationPoint>* side : {&out.pairs[p].rand_ooc, &out.pairs[p].rand_ref}) {
      for (size_t k = 0; k < rr.stages.size(); ++k) side->push_back({rr.stages[k], rr.spearman[e][k], rr.ssim[e][k]});
      ++e;
    }
  }
  out.randomisation = {{"stages", rr.stages},
                       {"seed", c.evidence.randomisation_seed},
                       {"cascading", "stage k has its own weights and those of every stage above it re-drawn"},
                       {"maps", std::string("the shared maps' channel reduction (") + reduce_name(c.heat.reduce) +
                                    "), before smoothing"},
                       {"ssim", "mean over 7x7 windows, each map divided by its largest |value|"}};
}

}  // namespace

Evidence evidence_stage(const ExplainConfig& c, LoadedModel& m, const Readouts& readouts, const Pairs& pairs,
                        const Maps& maps) {
  Evidence out;
  out.pairs.resize(pairs.plans.size());
  out.min_drop.assign(readouts.fitted.size(), kNoValue);
  if (pairs.plans.empty() || !(c.evidence.faithfulness || c.evidence.randomisation)) return out;
  const EvidenceInputs ev = evidence_inputs(readouts, pairs, maps);
  if (c.evidence.faithfulness) faithfulness_part(c, m, ev, pairs, maps, out);
  if (c.evidence.randomisation) randomisation_part(c, m, ev, pairs, maps, out);
  return out;
}

}  // namespace sv
