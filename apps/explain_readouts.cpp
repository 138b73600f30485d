// The readouts stage of `sharedvis explain` (docs/method.md §1): per neuron its preferred,
// ooc and fit images; constant neurons are reported and skipped; neurons that share a fit
// set share μ, σ and one SVD per fold (fit_ridge on all of them); then every statistic of
// a readout: λ, the r values of stated kinds, flags, reliability, selectivity, scatter.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "apps/explain_stage_util.h"
#include "apps/explain_stages.h"
#include "apps/method/readout_quality.h"
#include "apps/method/selectivity.h"
#include "apps/method/synthetic.h"

namespace sv {

namespace {

constexpr size_t kMaxScatterPoints = 400;

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

bool constant(const std::vector<double>& v) {
  return v.empty() || std::all_of(v.begin(), v.end(), [&](double x) { return std::abs(x - v[0]) <= 1e-12 * (1 + std::abs(v[0])); });
}

// The neurons [first, last), their image sets and the fits, without statistics.
Readouts fit_readouts(const ExplainConfig& c, const Analysed& data, size_t first, size_t last) {
  const ReadoutConfig& rc = c.readout;
  const std::string fit_on = enum_name(kFitOnNames, rc.fit_on);
  Readouts r;
  r.neurons.resize(data.neurons.size());
  std::map<std::string, std::vector<size_t>> groups;  // fit-set key -> indices into r.fitted
  for (size_t k = first; k < last; ++k) {
    const NeuronInput& ni = data.neurons[k];
    NeuronResult& nr = r.neurons[k];
    nr.name = ni.name;
    nr.preferred = ni.preferred;
    nr.repeats = static_cast<int>(ni.repeats.cols);
    nr.folds = rc.folds;
    NeuronReadout w = neuron_readout(c, data, k);
    nr.n_fit = static_cast<int64_t>(w.fit.size());
    nr.n_preferred = static_cast<int64_t>(w.pref.size());
    nr.n_ooc = static_cast<int64_t>(w.ooc.size());
    SV_CHECK(!w.pref.empty(), ValueError,
             "neuron '" + ni.name + "': no analysed image has its preferred category '" + ni.preferred + "'");
    SV_CHECK(static_cast<int64_t>(w.fit.size()) >= rc.folds, ValueError,
             "neuron '" + ni.name + "': " + std::to_string(w.fit.size()) + " images to fit the readout on (--fit-on " +
                 fit_on + "), fewer than the " + std::to_string(rc.folds) + " cross-validation folds (--folds)");
    if (constant(gather(w.y, w.fit))) {
      nr.skipped = true;
      nr.skip_reason = "constant responses over the " + std::to_string(w.fit.size()) + " images it is fitted on";
      std::fprintf(stderr, "sharedvis explain: neuron '%s' skipped: %s\n", ni.name.c_str(), nr.skip_reason.c_str());
      continue;
    }
    groups[w.group].push_back(r.fitted.size());
    r.fitted.push_back(std::move(w));
  }
  if (first == 0 && last == data.neurons.size()) require_fitted(r);
  fit_set_designs(data, r);
  for (auto& [key, members] : groups) {
    const std::vector<int64_t>& fit = r.fitted[members[0]].fit;
    Mat Y(static_cast<int64_t>(fit.size()), static_cast<int64_t>(members.size()));
    for (size_t j = 0; j < members.size(); ++j)
      for (size_t i = 0; i < fit.size(); ++i)
        Y(static_cast<int64_t>(i), static_cast<int64_t>(j)) = r.fitted[members[j]].y[static_cast<size_t>(fit[i])];
    RidgeOptions ro;
    ro.lambdas = rc.lambdas;
    ro.folds = rc.folds;
    ro.seed = rc.seed;
    ro.one_se = rc.rule == LambdaRule::OneSe;
    std::vector<RidgeFit> fits = fit_ridge(select_rows(r.designs[key], fit), Y, ro);
    for (size_t j = 0; j < members.size(); ++j) r.fitted[members[j]].fit_result = std::move(fits[j]);
  }
  return r;
}

// λ, the r values (each of a stated kind: readout_quality.h), the readout's flags,
// reliability, selectivity and the Fig. 3a scatter points.
void readout_statistics(const ExplainConfig& c, const Analysed& data, Readouts& r) {
  std::vector<int64_t> all(data.images.size());
  std::iota(all.begin(), all.end(), 0);
  for (const NeuronReadout& w : r.fitted) {
    NeuronResult& nr = r.neurons[w.neuron];
    const Mat& rep = data.neurons[w.neuron].repeats;
    const std::vector<double> final_pred = predict(w.fit_result, r.Z(w));
    const ReadoutScores sc = score_readout(w.fit_result, w.y, final_pred, w.fit, w.pref, w.ooc);
    nr.lambda = w.fit_result.lambda;
    nr.cv_score = sc.cv_fold_mean;
    nr.cv_curve = w.fit_result.cv_curve;
    nr.r_within = sc.within_oof;
    nr.r_ooc = sc.ooc_held_out;
    nr.r_ooc_oof = sc.ooc_oof;
    nr.n_ooc_held_out = sc.n_ooc_held_out;
    nr.n_ooc_oof = sc.n_ooc_oof;
    const ReadoutCheck check = check_readout(w.fit_result, c.readout.lambdas, c.readout.rule == LambdaRule::OneSe,
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
    const Selectivity sel = selectivity(w.y, w.pref, w.ooc, c.pairs.top_ooc);
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

}  // namespace

NeuronReadout neuron_readout(const ExplainConfig& c, const Analysed& data, size_t k) {
  const NeuronInput& ni = data.neurons.at(k);
  const auto N = static_cast<int64_t>(data.images.size());
  NeuronReadout w;
  w.neuron = k;
  w.y = repeat_mean(ni.repeats);
  for (int64_t i = 0; i < N; ++i)
    (data.images[static_cast<size_t>(i)].category == ni.preferred ? w.pref : w.ooc).push_back(i);
  if (c.readout.fit_on == FitOn::Preferred) {
    w.fit = w.pref;
  } else {
    w.fit.resize(static_cast<size_t>(N));
    std::iota(w.fit.begin(), w.fit.end(), 0);
  }
  w.group = c.readout.fit_on == FitOn::All ? std::string("all") : "preferred:" + ni.preferred;
  return w;
}

void fit_set_designs(const Analysed& data, Readouts& r) {
  for (const NeuronReadout& w : r.fitted) {
    if (r.standardizers.count(w.group)) continue;
    r.standardizers[w.group] = fit_standardizer(data.phi, w.fit);
    r.designs[w.group] = standardize(data.phi, r.standardizers[w.group]);
  }
}

void require_fitted(const Readouts& r) {
  if (!r.fitted.empty()) return;
  std::string why;
  for (const NeuronResult& nr : r.neurons) why += "\n  " + nr.name + ": " + nr.skip_reason;
  throw ValueError("no neuron can be explained: every neuron was skipped" + why);
}

Readouts fit_stage(const ExplainConfig& c, const Analysed& data, size_t first, size_t last) {
  last = std::min(last, data.neurons.size());
  Readouts r = fit_readouts(c, data, first, last);
  readout_statistics(c, data, r);
  return r;
}

}  // namespace sv
