// `sharedvis explain`, top-down: model → inputs → features → readouts → pairs → α →
// parallel backprop → heatmaps → report. The math lives in apps/method/, the files in
// apps/report/; this file only orders the steps and collects what they find.
#include "apps/explain.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>

#include "apps/explain_evidence.h"
#include "apps/explain_inputs.h"
#include "apps/io/npy.h"
#include "apps/method/heatmap.h"
#include "apps/method/readout.h"
#include "apps/method/readout_quality.h"
#include "apps/method/references.h"
#include "apps/method/saliency.h"
#include "apps/method/selectivity.h"
#include "apps/method/shared.h"
#include "apps/method/synthetic.h"
#include "apps/primitives.h"
#include "apps/report/figures.h"
#include "apps/report/gallery.h"
#include "apps/report/output_dir.h"
#include "apps/report/progress.h"
#include "apps/report/readout_file.h"
#include "apps/report/results_json.h"
#include "backends/factory.h"

namespace sv {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr size_t kMaxScatterPoints = 400;

// Every option, validated and parsed once.
struct Parsed {
  Pool pool;
  Similarity similarity;
  SharedRule shared;
  AttrOptions attr;
  HeatmapOptions heat;
  std::vector<double> lambdas;
};

Parsed parse_options(const ExplainOptions& o) {
  Parsed p;
  p.pool = parse_pool(o.pool);
  p.similarity = parse_similarity(o.similarity);
  p.shared = parse_shared_rule(o.shared);
  p.attr.attr = parse_attr(o.attr);
  p.attr.steps = o.steps;
  p.attr.rule = parse_ig_rule(o.ig_rule);
  p.attr.baseline = o.baseline;
  p.attr.max_batch = o.max_batch;
  p.heat.reduce = parse_reduce(o.reduce);
  p.heat.smooth = o.smooth;
  p.heat.smooth_min_px = o.smooth_min_px;
  p.heat.clip_percentile = o.clip_percentile;
  p.heat.colormap = parse_colormap(o.colormap);
  SV_CHECK(o.fit_on == "preferred" || o.fit_on == "all", ValueError, "--fit-on must be preferred or all, got " + o.fit_on);
  SV_CHECK(o.folds >= 2, ValueError, "--folds must be at least 2");
  SV_CHECK(o.lambda_rule == "1se" || o.lambda_rule == "best", ValueError,
           "--lambda-rule must be 1se or best, got " + o.lambda_rule);
  SV_CHECK(o.top_ooc >= 1 && o.top_k >= 1 && o.top_dims >= 0, ValueError,
           "--top-ooc and --top-k must be >= 1, --top-dims >= 0");
  SV_CHECK(o.steps >= 1, ValueError, "--steps must be >= 1");
  SV_CHECK(o.max_batch >= 1 && o.feature_batch >= 1, ValueError, "--max-batch and --feature-batch must be >= 1");
  SV_CHECK(o.threads >= 0, ValueError, "--threads must be >= 0 (0: all cores)");
  SV_CHECK(o.threads == 0 || o.device == "cpu", ValueError, "--threads needs --device cpu");
  SV_CHECK(o.smooth >= 0, ValueError, "--smooth must be >= 0");
  SV_CHECK(std::isfinite(o.smooth_min_px) && o.smooth_min_px >= 0, ValueError,
           "--smooth-min-px must be a finite number >= 0");
  SV_CHECK(o.decomposition_scale == "pair" || o.decomposition_scale == "panel", ValueError,
           "--decomposition-scale must be pair or panel, got " + o.decomposition_scale);
  SV_CHECK(o.clip_percentile > 0 && o.clip_percentile <= 100, ValueError, "--clip-percentile must be in (0, 100]");
  SV_CHECK(o.faith_steps >= 1, ValueError, "--faith-steps must be >= 1");
  check_faith_baseline(o.faith_baseline);
  SV_CHECK(std::isnan(o.lambda) || (o.lambda >= 0 && std::isfinite(o.lambda)), ValueError, "--lambda must be >= 0");
  p.lambdas = std::isfinite(o.lambda) ? std::vector<double>{o.lambda} : log_grid(o.lambda_lo, o.lambda_hi, o.lambda_n);
  return p;
}

nlohmann::json choices_json(const ExplainOptions& o, const Model& m, const std::string& model_path,
                            const std::string& layer, int64_t D, const Backend& be) {
  return {{"model", model_path},
          {"arch", m.info.arch},
          {"layer", layer},
          {"pool", o.pool},
          {"feature_dim", D},
          {"fit_on", o.fit_on},
          {"lambda", std::isfinite(o.lambda) ? nlohmann::json(o.lambda) : nlohmann::json("cv")},
          {"lambda_grid", {o.lambda_lo, o.lambda_hi, o.lambda_n}},
          {"folds", o.folds},
          {"cv_criterion", "mean out-of-fold Pearson r"},
          {"lambda_rule", o.lambda_rule},
          {"seed", o.seed},
          {"top_ooc", o.top_ooc},
          {"top_k", o.top_k},
          {"similarity", o.similarity},
          {"shared", o.shared},
          {"top_dims", o.top_dims},
          {"attr", o.attr},
          {"steps", o.steps},
          {"ig_rule", o.ig_rule},
          {"baseline", o.baseline},
          {"reduce", o.reduce},
          {"smooth", o.smooth},
          {"smooth_min_px", o.smooth_min_px},
          {"decomposition_scale", o.decomposition_scale},
          {"clip_percentile", o.clip_percentile},
          {"colormap", o.colormap},
          {"faithfulness", o.faithfulness},
          {"faith_steps", o.faith_steps},
          {"faith_baseline", o.faith_baseline},
          {"randomisation", o.randomisation},
          {"randomisation_seed", o.randomisation_seed},
          {"synthetic_source", o.synthetic_source},
          {"noise", o.noise},
          {"repeats", o.repeats},
          {"max_batch", o.max_batch},
          {"feature_batch", o.feature_batch},
          {"device", o.device},
          {"threads", o.threads},
          {"backend", be.name()}};
}

std::vector<std::array<double, 2>> scatter_points(const std::vector<double>& rec, const std::vector<double>& pred,
                                                  const std::vector<int64_t>& rows) {
  std::vector<std::array<double, 2>> pts;
  const size_t step = std::max<size_t>(1, (rows.size() + kMaxScatterPoints - 1) / kMaxScatterPoints);
  for (size_t i = 0; i < rows.size(); i += step)
    pts.push_back({rec[static_cast<size_t>(rows[i])], pred[static_cast<size_t>(rows[i])]});
  return pts;
}

double mean_of(const std::vector<double>& v, const std::vector<int64_t>& rows) {
  if (rows.empty()) return kNoValue;
  double s = 0;
  for (int64_t r : rows) s += v[static_cast<size_t>(r)];
  return s / static_cast<double>(rows.size());
}

std::vector<double> gather(const std::vector<double>& v, const std::vector<int64_t>& rows) {
  std::vector<double> out;
  for (int64_t r : rows) out.push_back(v[static_cast<size_t>(r)]);
  return out;
}

bool constant(const std::vector<double>& v) {
  return v.empty() || std::all_of(v.begin(), v.end(), [&](double x) { return std::abs(x - v[0]) <= 1e-12 * (1 + std::abs(v[0])); });
}

// One neuron's readout, its fit set, and the pairs chosen for it.
struct NeuronWork {
  size_t index = 0;            // into result.neurons
  std::vector<double> y;       // (N) mean response
  std::vector<int64_t> pref, ooc, fit;
  RidgeFit fit_result;
  const Standardizer* st = nullptr;
  const Mat* Z = nullptr;      // (N, D) standardized on this neuron's fit set
};

// A cotangent to backpropagate and where its maps go.
struct PairWork {
  size_t neuron, pair;
  int64_t cot;                 // the shared cotangent's row
  std::vector<int64_t> dim_cots;  // decomposition cotangents, one per top dim
};

// Everything the stages share; each stage fills its part.
struct Run {
  ExplainOptions opt;
  Parsed P;
  std::string model_path, layer;
  Model model;
  std::unique_ptr<Backend> be;
  ExplainInputs in;
  int64_t N = 0, D = 0;
  Mat phi;  // (N, D) features at the layer
  RunResult result;
  nlohmann::json timing;
  // readouts
  std::vector<NeuronWork> work;
  std::map<std::string, Standardizer> standardizers;  // by fit set
  std::map<std::string, Mat> designs;                 // z (N, D) by fit set
  // the parallel backprop
  Mat cot;                            // (cotangents, D)
  std::vector<BackpropJob> jobs;      // two per cotangent: (ooc, row), (reference, row)
  std::vector<int64_t> unique_images; // unique image -> analysed image
  std::vector<int64_t> unique_of;     // analysed image -> unique image (-1: none)
  std::vector<PairWork> pair_work;
  Tensor xu;                          // (unique, C, H, W)
  BackpropResult bp;
};

// A stage whose numbers are not finite stops the run, naming the stage and where, instead
// of writing a report of NaNs ("null" in results.json) and blank maps.
int64_t first_nonfinite_value(const std::vector<double>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return static_cast<int64_t>(i);
  return -1;
}
void require_finite(const std::vector<double>& v, const std::string& what, const std::string& hint = "") {
  const int64_t i = first_nonfinite_value(v);
  SV_CHECK(i < 0, ValueError,
           what + " is not finite (" + std::to_string(v[static_cast<size_t>(i)]) + " at index " + std::to_string(i) +
               ")" + (hint.empty() ? "" : "; " + hint));
}

void load_model_stage(Run& r) {
  r.model_path = r.opt.model.empty() ? bundled_model_path() : r.opt.model;
  if (r.opt.model.empty())
    SV_CHECK(std::filesystem::exists(r.model_path), IoError,
             r.model_path + ": the bundled model is missing (train it with `sharedvis train`, pass --model, or set "
                            "SHAREDVIS_MODEL_DIR)");
  r.model = load_model(r.model_path);
  r.layer = r.opt.layer.empty() ? default_layer(r.model) : r.opt.layer;
  SV_CHECK(!r.layer.empty(), ValueError, "--layer is required for " + r.model.info.arch);
  r.model.check_layer(r.layer);
  // --threads sizes the CPU backend of --device cpu; auto and cuda keep their own choice.
  r.be = r.opt.device == "cpu" ? make_cpu_backend(false, r.opt.threads) : make_backend(r.opt.device);
  model_to(r.model, *r.be);
}

void features_stage(Run& r) {
  ProgressLine line("features", "img", r.opt.progress);
  r.phi = mat_from_tensor(features(r.model, *r.be, r.layer, r.P.pool, r.in.x, r.opt.feature_batch,
                                   [&](int64_t d, int64_t n) { line.update(d, n); }));
  line.finish();
  r.D = r.phi.cols;
  if (const int64_t i = first_nonfinite_value(r.phi.v); i >= 0)
    throw ValueError("the features (" + r.layer + ") of image " + std::to_string(i / r.D) + " are not finite (" +
                     std::to_string(r.phi.v[static_cast<size_t>(i)]) + " in dim " + std::to_string(i % r.D) +
                     "): the image or the model produces values too large for float32");
}

// Per neuron: its preferred / ooc / fit images; constant neurons are reported and skipped;
// neurons that share a fit set share μ, σ and one SVD per fold (fit_ridge on all of them).
void fit_readouts(Run& r) {
  const ExplainOptions& opt = r.opt;
  std::map<std::string, std::vector<size_t>> groups;  // fit-set key -> indices into r.work
  for (const NeuronInput& ni : r.in.neurons) {
    NeuronResult nr;
    nr.name = ni.name;
    nr.preferred = ni.preferred;
    nr.repeats = static_cast<int>(ni.repeats.cols);
    nr.folds = opt.folds;
    NeuronWork w;
    w.index = r.result.neurons.size();
    w.y = repeat_mean(ni.repeats);
    for (int64_t i = 0; i < r.N; ++i)
      (r.in.images[static_cast<size_t>(i)].category == ni.preferred ? w.pref : w.ooc).push_back(i);
    if (opt.fit_on == "preferred") {
      w.fit = w.pref;
    } else {
      w.fit.resize(static_cast<size_t>(r.N));
      std::iota(w.fit.begin(), w.fit.end(), 0);
    }
    nr.n_fit = static_cast<int64_t>(w.fit.size());
    nr.n_preferred = static_cast<int64_t>(w.pref.size());
    nr.n_ooc = static_cast<int64_t>(w.ooc.size());
    SV_CHECK(!w.pref.empty(), ValueError,
             "neuron '" + ni.name + "': no analysed image has its preferred category '" + ni.preferred + "'");
    SV_CHECK(static_cast<int64_t>(w.fit.size()) >= opt.folds, ValueError,
             "neuron '" + ni.name + "': " + std::to_string(w.fit.size()) + " images to fit the readout on (--fit-on " +
                 opt.fit_on + "), fewer than the " + std::to_string(opt.folds) + " cross-validation folds (--folds)");
    if (constant(gather(w.y, w.fit))) {
      nr.skipped = true;
      nr.skip_reason = "constant responses over the " + std::to_string(w.fit.size()) + " images it is fitted on";
      std::fprintf(stderr, "sharedvis explain: neuron '%s' skipped: %s\n", ni.name.c_str(), nr.skip_reason.c_str());
      r.result.neurons.push_back(std::move(nr));
      continue;
    }
    r.result.neurons.push_back(std::move(nr));
    groups[opt.fit_on == "all" ? std::string("all") : "preferred:" + ni.preferred].push_back(r.work.size());
    r.work.push_back(std::move(w));
  }
  if (r.work.empty()) {
    std::string why;
    for (const NeuronResult& nr : r.result.neurons) why += "\n  " + nr.name + ": " + nr.skip_reason;
    throw ValueError("no neuron can be explained: every neuron was skipped" + why);
  }
  for (auto& [key, members] : groups) {
    const std::vector<int64_t>& fit = r.work[members[0]].fit;
    r.standardizers[key] = fit_standardizer(r.phi, fit);
    r.designs[key] = standardize(r.phi, r.standardizers[key]);
    Mat Y(static_cast<int64_t>(fit.size()), static_cast<int64_t>(members.size()));
    for (size_t j = 0; j < members.size(); ++j)
      for (size_t i = 0; i < fit.size(); ++i)
        Y(static_cast<int64_t>(i), static_cast<int64_t>(j)) = r.work[members[j]].y[static_cast<size_t>(fit[i])];
    RidgeOptions ro;
    ro.lambdas = r.P.lambdas;
    ro.folds = opt.folds;
    ro.seed = opt.seed;
    ro.one_se = opt.lambda_rule == "1se";
    std::vector<RidgeFit> fits = fit_ridge(select_rows(r.designs[key], fit), Y, ro);
    for (size_t j = 0; j < members.size(); ++j) {
      NeuronWork& w = r.work[members[j]];
      w.fit_result = std::move(fits[j]);
      w.st = &r.standardizers[key];
      w.Z = &r.designs[key];
    }
  }
}

// λ, the r values (each of a stated kind: readout_quality.h), the readout's flags,
// reliability, selectivity and the Fig. 3a scatter points.
void readout_statistics(Run& r) {
  std::vector<int64_t> all(static_cast<size_t>(r.N));
  std::iota(all.begin(), all.end(), 0);
  for (NeuronWork& w : r.work) {
    NeuronResult& nr = r.result.neurons[w.index];
    const Mat& rep = r.in.neurons[w.index].repeats;
    const std::vector<double> final_pred = predict(w.fit_result, *w.Z);
    const ReadoutScores sc = score_readout(w.fit_result, w.y, final_pred, w.fit, w.pref, w.ooc);
    nr.lambda = w.fit_result.lambda;
    nr.cv_score = sc.cv_fold_mean;
    nr.cv_curve = w.fit_result.cv_curve;
    nr.r_within = sc.within_oof;
    nr.r_ooc = sc.ooc_held_out;
    nr.r_ooc_oof = sc.ooc_oof;
    nr.n_ooc_held_out = sc.n_ooc_held_out;
    nr.n_ooc_oof = sc.n_ooc_oof;
    const ReadoutCheck check = check_readout(w.fit_result, r.P.lambdas, r.opt.lambda_rule == "1se",
                                             gather(w.y, w.fit), gather(final_pred, w.fit));
    nr.prediction_sd_ratio = check.prediction_sd_ratio;
    nr.oof_sd_ratio = check.oof_sd_ratio;
    for (const ReadoutFlag& f : check.flags) {
      nr.flags.push_back({f.code, f.reason, f.remedy});
      std::fprintf(stderr, "sharedvis explain: neuron '%s': readout flagged (%s): %s; remedy: %s\n", nr.name.c_str(),
                   f.code.c_str(), f.reason.c_str(), f.remedy.c_str());
    }
    nr.reliability = split_half_reliability(rep);
    nr.reliability_within = split_half_reliability(select_rows(rep, w.pref));
    nr.mean_preferred = mean_of(w.y, w.pref);
    nr.mean_ooc = mean_of(w.y, w.ooc);
    nr.mean_all = mean_of(w.y, all);
    const Selectivity sel = selectivity(w.y, w.pref, w.ooc, r.opt.top_ooc);
    nr.top_k = sel.top_k;
    nr.top_ooc_share = sel.top_ooc_share;
    nr.chance_share = sel.chance_share;
    nr.top_ooc_percentile = sel.top_ooc_percentile;
    nr.mean_ratio = sel.mean_ratio;
    nr.within_points = scatter_points(w.y, sc.prediction, w.pref);
    nr.ooc_points = scatter_points(w.y, sc.prediction, w.ooc);
    double ymax = 0;
    for (double v : w.y) ymax = std::max(ymax, std::abs(v));
    const std::string who = "neuron '" + nr.name + "': ";
    const std::string hint = "its responses reach |y| = " + std::to_string(ymax) + " (rescale them)";
    require_finite(w.fit_result.w, who + "the readout's weights", hint);
    // (The CV score may be NaN legitimately: a fold whose predictions are constant.)
    require_finite({nr.lambda, nr.mean_preferred, nr.mean_ooc, nr.mean_all}, who + "λ or a mean response", hint);
    require_finite(sc.prediction, who + "the predicted responses", hint);
  }
}

// A cotangent for the pair (a, b): one row of r.cot and a job for each image.
int64_t add_cotangent(Run& r, const std::vector<double>& g, int64_t a, int64_t b) {
  auto unique_index = [&](int64_t i) {
    if (r.unique_of[static_cast<size_t>(i)] < 0) {
      r.unique_of[static_cast<size_t>(i)] = static_cast<int64_t>(r.unique_images.size());
      r.unique_images.push_back(i);
    }
    return r.unique_of[static_cast<size_t>(i)];
  };
  r.cot.v.insert(r.cot.v.end(), g.begin(), g.end());
  const int64_t row = r.cot.rows++;
  r.jobs.push_back({unique_index(a), row});
  r.jobs.push_back({unique_index(b), row});
  return row;
}

// Top ooc images by recorded response, each with its most similar preferred image, α, the
// top shared dims, and the cotangents of the pair (shared response + decomposition).
void choose_pairs(Run& r) {
  const ExplainOptions& opt = r.opt;
  r.cot = Mat(0, r.D);
  r.unique_of.assign(static_cast<size_t>(r.N), -1);
  for (NeuronWork& w : r.work) {
    NeuronResult& nr = r.result.neurons[w.index];
    const std::vector<double>& wt = w.fit_result.w;
    const std::vector<double> pred = predict(w.fit_result, *w.Z);
    const Mat Cref = contributions(wt, *w.Z, w.pref);
    const std::vector<double> y_pref = gather(w.y, w.pref);
    std::vector<bool> fitted(static_cast<size_t>(r.N), false);
    for (int64_t i : w.fit) fitted[static_cast<size_t>(i)] = true;
    for (int64_t o : top_by_response(w.y, w.ooc, opt.top_ooc)) {
      const std::vector<double> c_o = contributions(wt, *w.Z, {o}).v;
      const std::vector<Candidate> cands = top_references(r.P.similarity, c_o, Cref, w.pref, opt.top_k);
      const int64_t ref = cands.front().image;
      const std::vector<double> c_r = contributions(wt, *w.Z, {ref}).v;
      PairResult p;
      p.ooc = o;
      p.ref = ref;
      p.ooc_recorded = w.y[static_cast<size_t>(o)];
      p.ooc_predicted = pred[static_cast<size_t>(o)];
      p.ref_recorded = w.y[static_cast<size_t>(ref)];
      p.ref_predicted = pred[static_cast<size_t>(ref)];
      p.ooc_fitted = fitted[static_cast<size_t>(o)];
      p.ooc_percentile = percentile_rank(y_pref, p.ooc_recorded);
      p.similarity = cands.front().score;
      for (const Candidate& c : cands) p.candidates.push_back({c.image, c.score});
      const std::vector<double> alpha = shared_weights(r.P.shared, c_o, c_r, &p.alpha_l1);
      for (const TopDim& d : top_dims(alpha, opt.top_dims)) {
        p.top_dims.push_back({d.dim, d.alpha});
        p.top_share += d.alpha;
      }
      p.shared_dims = std::count_if(alpha.begin(), alpha.end(), [](double a) { return a > 0; });
      p.shared_ooc = p.shared_ref = 0;
      for (size_t i = 0; i < alpha.size(); ++i) {
        p.shared_ooc += alpha[i] * c_o[i];
        p.shared_ref += alpha[i] * c_r[i];
      }
      const std::vector<double> shared = shared_cotangent(alpha, wt, *w.st);
      require_finite(shared, "neuron '" + nr.name + "', ooc image " + std::to_string(o) + ": the shared-feature cotangent",
                     "α or the readout overflows double arithmetic (are the responses of a sane magnitude?)");
      PairWork pw{w.index, nr.pairs.size(), add_cotangent(r, shared, o, ref), {}};
      for (const SharedDim& d : p.top_dims)
        pw.dim_cots.push_back(add_cotangent(r, dimension_cotangent(d.dim, alpha, wt, *w.st), o, ref));
      r.pair_work.push_back(pw);
      nr.pairs.push_back(std::move(p));
    }
  }
}

// Every cotangent of the run in multi-output passes over the unique images.
void backprop_stage(Run& r) {
  if (r.jobs.empty()) return;
  const Tensor& x = r.in.x;
  r.xu = Tensor::empty({static_cast<int64_t>(r.unique_images.size()), x.dim(1), x.dim(2), x.dim(3)}, x.dtype());
  const size_t row = x.nbytes() / static_cast<size_t>(r.N);
  for (size_t u = 0; u < r.unique_images.size(); ++u)
    std::memcpy(static_cast<char*>(r.xu.raw()) + u * row,
                static_cast<const char*>(x.raw()) + static_cast<size_t>(r.unique_images[u]) * row, row);
  ProgressLine line("backprop", "maps", r.opt.progress);
  r.bp = parallel_backprop(r.model, *r.be, r.layer, r.P.pool, r.xu, r.cot, r.jobs, r.P.attr,
                           [&](int64_t d, int64_t n) { line.update(d, n); });
  line.finish();
  for (size_t j = 0; j < r.bp.saliency.size(); ++j)
    if (const int64_t i = first_nonfinite(r.bp.saliency[j]); i >= 0)
      throw ValueError("the saliency map of image " + std::to_string(r.unique_images[static_cast<size_t>(r.jobs[j].image)]) +
                       " (cotangent " + std::to_string(r.jobs[j].cotangent) + ") is not finite (" +
                       std::to_string(r.bp.saliency[j].item(i)) + " at index " + std::to_string(i) + ")");
  r.result.inputs["backprop"] = {{"cotangents", r.cot.rows},
                                 {"unique_images", r.unique_images.size()},
                                 {"vjp_jobs", r.jobs.size()},
                                 {"forward_batches", r.bp.forward_batches},
                                 {"max_cotangents_per_image", r.bp.max_k}};
}

// The readouts and pair images that the evidence stages work on.
struct EvidenceInputs {
  std::vector<EvidenceReadout> readouts;
  std::vector<EvidenceImage> images;  // per pair: its ooc image, then its reference
};

EvidenceInputs evidence_inputs(const Run& r) {
  EvidenceInputs ev;
  std::map<size_t, size_t> readout_of;  // neuron -> readout
  for (const NeuronWork& w : r.work) {
    readout_of[w.index] = ev.readouts.size();
    const std::vector<double> fit_pred = gather(predict(w.fit_result, *w.Z), w.fit);
    double mean = 0, var = 0;
    for (double v : fit_pred) mean += v / static_cast<double>(fit_pred.size());
    for (double v : fit_pred) var += (v - mean) * (v - mean) / static_cast<double>(fit_pred.size());
    ev.readouts.push_back({&w.fit_result, w.st, kMinDropSd * std::sqrt(var)});
  }
  for (const PairWork& pw : r.pair_work) {
    const PairResult& p = r.result.neurons[pw.neuron].pairs[pw.pair];
    const auto jo = static_cast<size_t>(2 * pw.cot);  // the pair's two jobs: ooc, reference
    for (const auto& [img, job] : {std::make_pair(p.ooc, jo), std::make_pair(p.ref, jo + 1)})
      ev.images.push_back({readout_of.at(pw.neuron), r.unique_of[static_cast<size_t>(img)], img, &r.bp.saliency[job],
                           pw.cot});
  }
  return ev;
}

// Deletion and insertion curves of the shared, gradient, IG and random maps (§8).
void faithfulness_stage(Run& r) {
  if (!r.opt.faithfulness || r.pair_work.empty()) return;
  const EvidenceInputs ev = evidence_inputs(r);
  FaithSettings s;
  s.baseline = r.opt.faith_baseline;
  s.steps = r.opt.faith_steps;
  s.reduce = r.P.heat.reduce;
  s.ig = r.P.attr;
  s.batch = r.opt.feature_batch;
  ProgressLine line("faithfulness", "img", r.opt.progress);
  const auto curves = faithfulness(r.model, *r.be, r.layer, r.P.pool, r.xu, ev.readouts, ev.images, s,
                                   [&](int64_t d, int64_t n) { line.update(d, n); });
  line.finish();
  for (size_t k = 0; k < r.work.size(); ++k) r.result.neurons[r.work[k].index].faith_min_drop = ev.readouts[k].min_drop;
  size_t e = 0;
  for (const PairWork& pw : r.pair_work) {
    PairResult& p = r.result.neurons[pw.neuron].pairs[pw.pair];
    for (std::vector<FaithCurves>* side : {&p.faith_ooc, &p.faith_ref}) {
      for (size_t k = 0; k < kFaithMethods.size(); ++k) {
        const Curves& c = curves[e][k];
        side->push_back({kFaithMethods[k], c.deletion, c.insertion, c.r_full, c.r_base, c.deletion_auc, c.insertion_auc});
      }
      ++e;
    }
  }
  r.result.faithfulness = {{"steps", s.steps},
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
void randomisation_stage(Run& r) {
  if (!r.opt.randomisation || r.pair_work.empty()) return;
  const EvidenceInputs ev = evidence_inputs(r);
  Model copy = load_model(r.model_path);
  model_to(copy, *r.be);
  ProgressLine line("randomisation", "stages", r.opt.progress);
  const RandomisationResult rr = model_randomisation(copy, *r.be, r.layer, r.P.pool, r.xu, r.cot, ev.images, r.P.attr,
                                                     r.P.heat.reduce, r.opt.randomisation_seed,
                                                     [&](int64_t d, int64_t n) { line.update(d, n); });
  line.finish();
  size_t e = 0;
  for (const PairWork& pw : r.pair_work) {
    PairResult& p = r.result.neurons[pw.neuron].pairs[pw.pair];
    for (std::vector<RandomisationPoint>* side : {&p.rand_ooc, &p.rand_ref}) {
      for (size_t k = 0; k < rr.stages.size(); ++k) side->push_back({rr.stages[k], rr.spearman[e][k], rr.ssim[e][k]});
      ++e;
    }
  }
  r.result.randomisation = {{"stages", rr.stages},
                            {"seed", r.opt.randomisation_seed},
                            {"cascading", "stage k has its own weights and those of every stage above it re-drawn"},
                            {"maps", std::string("the shared maps' channel reduction (") + reduce_name(r.P.heat.reduce) +
                                         "), before smoothing"},
                            {"ssim", "mean over 7x7 windows, each map divided by its largest |value|"}};
}

// The images, overlays, pair figures, decomposition panels and raw saliency files.
void figures_stage(Run& r, const StagedOutput& out) {
  std::vector<std::string> image_png(r.unique_images.size());
  std::vector<Rgb> display(r.unique_images.size());
  auto image_file = [&](int64_t img) {
    const auto u = static_cast<size_t>(r.unique_of[static_cast<size_t>(img)]);
    if (image_png[u].empty()) {
      const Tensor xi = r.xu.slice0(static_cast<int64_t>(u), static_cast<int64_t>(u) + 1);
      display[u] = display_image(xi.reshape({xi.dim(1), xi.dim(2), xi.dim(3)}), r.model.info);
      image_png[u] = "images/image_" + std::to_string(img) + ".png";
      write_rgb_png(out.file(image_png[u]), display[u]);
    }
    return u;
  };
  const BackpropResult& bp = r.bp;
  for (const PairWork& pw : r.pair_work) {
    PairResult& p = r.result.neurons[pw.neuron].pairs[pw.pair];
    const std::string stem = "n" + std::to_string(pw.neuron) + "_p" + std::to_string(pw.pair);
    const size_t uo = image_file(p.ooc), ur = image_file(p.ref);
    p.png_ooc_image = image_png[uo];
    p.png_ref_image = image_png[ur];
    const auto jo = static_cast<size_t>(2 * pw.cot), jr = jo + 1;  // the pair's two jobs
    const PairOverlays ov = pair_overlays(bp.saliency[jo], bp.saliency[jr], display[uo], display[ur], r.P.heat);
    p.scale = ov.scale;
    p.ig_gap_ooc = bp.ig_gap[jo];
    p.ig_gap_ref = bp.ig_gap[jr];
    p.png_ooc = "pairs/" + stem + "_ooc.png";
    p.png_ref = "pairs/" + stem + "_ref.png";
    p.png_pair = "pairs/" + stem + "_pair.png";
    write_rgb_png(out.file(p.png_ooc), ov.a);
    write_rgb_png(out.file(p.png_ref), ov.b);
    write_rgb_png(out.file(p.png_pair), ov.pair);
    p.npy_ooc = "saliency/" + stem + "_ooc.npy";
    p.npy_ref = "saliency/" + stem + "_ref.npy";
    write_npy(out.file(p.npy_ooc), bp.saliency[jo].to(DType::F32));
    write_npy(out.file(p.npy_ref), bp.saliency[jr].to(DType::F32));
    // The panels on the pair's scale (--decomposition-scale pair), or each on its own.
    const double panel_scale = r.opt.decomposition_scale == "pair" ? ov.scale : 0.0;
    for (size_t d = 0; d < pw.dim_cots.size(); ++d) {
      const auto ko = static_cast<size_t>(2 * pw.dim_cots[d]);
      const PairOverlays dv =
          pair_overlays_at(bp.saliency[ko], bp.saliency[ko + 1], display[uo], display[ur], r.P.heat, panel_scale);
      DecompositionPanel panel{p.top_dims[d].dim, p.top_dims[d].alpha, dv.scale, dv.own_scale,
                               "pairs/" + stem + "_dim" + std::to_string(p.top_dims[d].dim) + ".png"};
      write_rgb_png(out.file(panel.png), dv.pair);
      p.decomposition.push_back(panel);
    }
  }
}

// readout.safetensors: μ, σ shared when every neuron was fitted on the same images.
void write_readouts(Run& r, const StagedOutput& out) {
  ReadoutFile rf;
  rf.model = r.model_path;
  rf.arch = r.model.info.arch;
  rf.layer = r.layer;
  rf.pool = r.opt.pool;
  const bool shared = r.standardizers.size() <= 1;
  rf.w = Mat(0, r.D);
  rf.mu = Mat(0, r.D);
  rf.sigma = Mat(0, r.D);
  for (const NeuronWork& w : r.work) {
    rf.neurons.push_back(r.result.neurons[w.index].name);
    rf.preferred.push_back(r.result.neurons[w.index].preferred);
    rf.lambda.push_back(w.fit_result.lambda);
    rf.w.v.insert(rf.w.v.end(), w.fit_result.w.begin(), w.fit_result.w.end());
    ++rf.w.rows;
    rf.b.push_back(w.fit_result.b);
    if (!shared || rf.mu.rows == 0) {
      rf.mu.v.insert(rf.mu.v.end(), w.st->mu.begin(), w.st->mu.end());
      rf.sigma.v.insert(rf.sigma.v.end(), w.st->sigma.begin(), w.st->sigma.end());
      ++rf.mu.rows;
      ++rf.sigma.rows;
    }
  }
  if (rf.mu.rows == 0) {  // nothing fitted: keep the file's shapes meaningful
    rf.mu = Mat(1, r.D);
    rf.sigma = Mat(1, r.D, 1.0);
  }
  r.result.readout_file = "readout.safetensors";
  write_readout_file(out.file(r.result.readout_file), rf);
}

GalleryStyle gallery_style(const Run& r) {
  GalleryStyle style;
  style.colormap = r.opt.colormap;
  style.signed_maps = reduce_signed(r.P.heat.reduce);
  style.decomposition_scale = r.opt.decomposition_scale;
  style.smooth_sigma_px = smooth_sigma_px(r.P.heat, static_cast<int>(r.in.x.dim(3)));
  for (int i = 0; i <= 16; ++i) {
    const auto c = colormap_rgb(r.P.heat.colormap, i / 16.0);
    char buf[16];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(c[0] * 255)),
                  static_cast<int>(std::lround(c[1] * 255)), static_cast<int>(std::lround(c[2] * 255)));
    style.colormap_stops.push_back(buf);
  }
  return style;
}

// Runs a stage and records its wall time.
template <class F>
void timed(Run& r, const char* name, F&& stage) {
  const auto t = Clock::now();
  stage();
  r.timing[name] = since(t);
}

}  // namespace

const std::vector<std::string>& default_synthetic_labels() {
  static const std::vector<std::string> labels = {"Sandal", "Bag", "Ankle boot", "Sneaker", "Trouser", "Dress"};
  return labels;
}

ExplainSummary run_explain(const ExplainOptions& options) {
  const auto t_start = Clock::now();
  Run r;
  r.opt = options;
  if (r.opt.responses.empty() && r.opt.images.empty() && r.opt.dataset.empty()) r.opt.dataset = "fashion-mnist";
  if (!r.opt.dataset.empty() && r.opt.synthetic.empty()) r.opt.synthetic = default_synthetic_labels();
  r.P = parse_options(r.opt);
  StagedOutput out(r.opt.out);  // fails now, not after the computation, when --out cannot be written

  timed(r, "model", [&] { load_model_stage(r); });
  timed(r, "inputs", [&] {
    r.in = load_inputs(r.opt, r.model, *r.be, r.layer);
    r.N = r.in.x.dim(0);
    r.result.images = r.in.images;
    r.result.inputs = r.in.description;
    r.result.inputs["model"] = r.model_path;
  });
  timed(r, "features", [&] { features_stage(r); });
  r.result.choices = choices_json(r.opt, r.model, r.model_path, r.layer, r.D, *r.be);
  r.result.lambdas = r.P.lambdas;
  r.result.title = "sharedvis: " + std::to_string(r.in.neurons.size()) + " neuron" +
                   (r.in.neurons.size() == 1 ? "" : "s") + ", " + r.model.info.arch + " " + r.layer + " (" +
                   r.opt.pool + ")";
  timed(r, "readouts", [&] {
    fit_readouts(r);
    readout_statistics(r);
  });
  timed(r, "pairs", [&] { choose_pairs(r); });
  timed(r, "backprop", [&] { backprop_stage(r); });
  timed(r, "faithfulness", [&] { faithfulness_stage(r); });
  timed(r, "randomisation", [&] { randomisation_stage(r); });
  timed(r, "heatmaps", [&] { figures_stage(r, out); });
  r.result.inputs["heatmap"] = {{"image_width", r.in.x.dim(3)},
                                {"smooth_sigma_px", smooth_sigma_px(r.P.heat, static_cast<int>(r.in.x.dim(3)))}};

  write_readouts(r, out);
  r.timing["total"] = since(t_start);
  r.result.timing = r.timing;
  write_results_json(out.file("results.json"), r.result);
  write_gallery(out.file("index.html"), r.result, gallery_style(r));
  out.commit();

  ExplainSummary s;
  s.out_dir = out.final_dir();
  for (const NeuronResult& n : r.result.neurons) {
    ++s.neurons;
    s.skipped += n.skipped ? 1 : 0;
    s.pairs += static_cast<int>(n.pairs.size());
  }
  s.seconds = since(t_start);
  return s;
}

}  // namespace sv
