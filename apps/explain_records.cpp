// Exact JSON records of the readouts and the evidence (apps/explain_records.h).
#include "apps/explain_records.h"

#include <cmath>
#include <limits>

namespace sv {

using nlohmann::json;

json exact(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

double exact_double(const json& j) {
  if (j.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    SV_CHECK(s == "inf" || s == "-inf", ValueError, "a record holds '" + s + "' where a number belongs");
    return s == "inf" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }
  return j.get<double>();
}

json exact(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(exact(x));
  return a;
}

std::vector<double> exact_doubles(const json& j) {
  std::vector<double> v;
  v.reserve(j.size());
  for (const json& x : j) v.push_back(exact_double(x));
  return v;
}

namespace {

json points_json(const std::vector<std::array<double, 2>>& pts) {
  json a = json::array();
  for (const auto& p : pts) a.push_back({exact(p[0]), exact(p[1])});
  return a;
}

std::vector<std::array<double, 2>> points_of(const json& j) {
  std::vector<std::array<double, 2>> pts;
  for (const json& p : j) pts.push_back({exact_double(p[0]), exact_double(p[1])});
  return pts;
}

// The fields the readouts stage fills in (apps/explain_readouts.cpp).
json neuron_json(const NeuronResult& n) {
  json flags = json::array();
  for (const ReadoutFlagResult& f : n.flags) flags.push_back({f.code, f.reason, f.remedy});
  return {{"name", n.name},
          {"preferred", n.preferred},
          {"skipped", n.skipped},
          {"skip_reason", n.skip_reason},
          {"n", {n.n_fit, n.n_preferred, n.n_ooc, n.n_ooc_held_out, n.n_ooc_oof, n.top_k}},
          {"repeats", n.repeats},
          {"folds", n.folds},
          {"numbers",
           exact(std::vector<double>{n.lambda, n.cv_score, n.r_within, n.r_ooc, n.r_ooc_oof, n.reliability,
                                     n.reliability_within, n.mean_preferred, n.mean_ooc, n.mean_all, n.top_ooc_share,
                                     n.chance_share, n.top_ooc_percentile, n.mean_ratio, n.prediction_sd_ratio,
                                     n.oof_sd_ratio})},
          {"cv_curve", exact(n.cv_curve)},
          {"flags", flags},
          {"within_points", points_json(n.within_points)},
          {"ooc_points", points_json(n.ooc_points)}};
}

NeuronResult neuron_of(const json& j) {
  NeuronResult n;
  n.name = j.at("name").get<std::string>();
  n.preferred = j.at("preferred").get<std::string>();
  n.skipped = j.at("skipped").get<bool>();
  n.skip_reason = j.at("skip_reason").get<std::string>();
  const json& c = j.at("n");
  n.n_fit = c.at(0);
  n.n_preferred = c.at(1);
  n.n_ooc = c.at(2);
  n.n_ooc_held_out = c.at(3);
  n.n_ooc_oof = c.at(4);
  n.top_k = c.at(5);
  n.repeats = j.at("repeats");
  n.folds = j.at("folds");
  const std::vector<double> v = exact_doubles(j.at("numbers"));
  SV_CHECK(v.size() == 16, ValueError, "a readouts record of neuron '" + n.name + "' has " + std::to_string(v.size()) +
                                           " numbers, not 16");
  double* fields[] = {&n.lambda,        &n.cv_score,           &n.r_within,       &n.r_ooc,
                      &n.r_ooc_oof,     &n.reliability,        &n.reliability_within, &n.mean_preferred,
                      &n.mean_ooc,      &n.mean_all,           &n.top_ooc_share,  &n.chance_share,
                      &n.top_ooc_percentile, &n.mean_ratio,    &n.prediction_sd_ratio, &n.oof_sd_ratio};
  for (size_t i = 0; i < v.size(); ++i) *fields[i] = v[i];
  n.cv_curve = exact_doubles(j.at("cv_curve"));
  for (const json& f : j.at("flags")) n.flags.push_back({f.at(0), f.at(1), f.at(2)});
  n.within_points = points_of(j.at("within_points"));
  n.ooc_points = points_of(j.at("ooc_points"));
  return n;
}

json faith_curves_json(const std::vector<FaithCurves>& curves) {
  json a = json::array();
  for (const FaithCurves& c : curves)
    a.push_back({{"method", c.method},
                 {"deletion", exact(c.deletion)},
                 {"insertion", exact(c.insertion)},
                 {"numbers", exact(std::vector<double>{c.r_full, c.r_base, c.deletion_auc, c.insertion_auc})}});
  return a;
}

std::vector<FaithCurves> faith_curves_of(const json& j) {
  std::vector<FaithCurves> out;
  for (const json& c : j) {
    const std::vector<double> v = exact_doubles(c.at("numbers"));
    SV_CHECK(v.size() == 4, ValueError, "a faithfulness record has " + std::to_string(v.size()) + " numbers, not 4");
    out.push_back({c.at("method").get<std::string>(), exact_doubles(c.at("deletion")),
                   exact_doubles(c.at("insertion")), v[0], v[1], v[2], v[3]});
  }
  return out;
}

json rand_points_json(const std::vector<RandomisationPoint>& pts) {
  json a = json::array();
  for (const RandomisationPoint& p : pts) a.push_back({p.stage, exact(p.spearman), exact(p.ssim)});
  return a;
}

std::vector<RandomisationPoint> rand_points_of(const json& j) {
  std::vector<RandomisationPoint> out;
  for (const json& p : j) out.push_back({p.at(0).get<std::string>(), exact_double(p.at(1)), exact_double(p.at(2))});
  return out;
}

}  // namespace

json readouts_json(const Readouts& r, size_t first, size_t last) {
  json neurons = json::array(), fitted = json::array();
  for (size_t k = first; k < last && k < r.neurons.size(); ++k) neurons.push_back(neuron_json(r.neurons[k]));
  for (const NeuronReadout& w : r.fitted) {
    if (w.neuron < first || w.neuron >= last) continue;
    const RidgeFit& f = w.fit_result;
    fitted.push_back({{"neuron", w.neuron},
                      {"lambda", exact(f.lambda)},
                      {"b", exact(f.b)},
                      {"cv_score", exact(f.cv_score)},
                      {"cv_curve", exact(f.cv_curve)},
                      {"w", exact(f.w)}});
  }
  return {{"first", first}, {"last", last}, {"neurons", neurons}, {"fitted", fitted}};
}

void add_readouts(const json& j, const ExplainConfig& c, const Analysed& data, Readouts& r) {
  const size_t first = j.at("first"), last = j.at("last");
  SV_CHECK(last <= r.neurons.size() && first <= last && j.at("neurons").size() == last - first, ValueError,
           "a readouts record covers neurons " + std::to_string(first) + ".." + std::to_string(last) + " of " +
               std::to_string(r.neurons.size()));
  for (size_t k = first; k < last; ++k) r.neurons[k] = neuron_of(j.at("neurons").at(k - first));
  for (const json& f : j.at("fitted")) {
    const size_t k = f.at("neuron");
    SV_CHECK(k >= first && k < last, ValueError, "a readouts record fits neuron " + std::to_string(k) + " outside its range");
    NeuronReadout w = neuron_readout(c, data, k);
    w.fit_result.lambda = exact_double(f.at("lambda"));
    w.fit_result.b = exact_double(f.at("b"));
    w.fit_result.cv_score = exact_double(f.at("cv_score"));
    w.fit_result.cv_curve = exact_doubles(f.at("cv_curve"));
    w.fit_result.w = exact_doubles(f.at("w"));
    SV_CHECK(static_cast<int64_t>(w.fit_result.w.size()) == data.phi.cols, ValueError,
             "the readout of neuron '" + r.neurons[k].name + "' has " + std::to_string(w.fit_result.w.size()) +
                 " weights for " + std::to_string(data.phi.cols) + " feature dims");
    r.fitted.push_back(std::move(w));
  }
  fit_set_designs(data, r);
}

json evidence_json(const Pairs& pairs, const Evidence& ev, const std::vector<size_t>& fitted) {
  json plans = json::array(), drops = json::array();
  for (size_t p = 0; p < pairs.plans.size(); ++p)
    plans.push_back({faith_curves_json(ev.pairs[p].faith_ooc), faith_curves_json(ev.pairs[p].faith_ref),
                     rand_points_json(ev.pairs[p].rand_ooc), rand_points_json(ev.pairs[p].rand_ref)});
  for (size_t k : fitted) drops.push_back({k, exact(ev.min_drop.at(k))});
  return {{"plans", plans}, {"min_drop", drops}, {"faithfulness", ev.faithfulness}, {"randomisation", ev.randomisation}};
}

void add_evidence(const json& j, size_t first_plan, Evidence& ev) {
  const json& plans = j.at("plans");
  SV_CHECK(first_plan + plans.size() <= ev.pairs.size(), ValueError, "an evidence record has more pairs than the run");
  for (size_t p = 0; p < plans.size(); ++p) {
    PairEvidence& pe = ev.pairs[first_plan + p];
    pe.faith_ooc = faith_curves_of(plans[p].at(0));
    pe.faith_ref = faith_curves_of(plans[p].at(1));
    pe.rand_ooc = rand_points_of(plans[p].at(2));
    pe.rand_ref = rand_points_of(plans[p].at(3));
  }
  for (const json& d : j.at("min_drop")) ev.min_drop.at(d.at(0).get<size_t>()) = exact_double(d.at(1));
  if (ev.faithfulness.is_null()) ev.faithfulness = j.at("faithfulness");
  if (ev.randomisation.is_null()) ev.randomisation = j.at("randomisation");
}

}  // namespace sv
