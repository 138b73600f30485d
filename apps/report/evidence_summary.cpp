// Means over images of the faithfulness areas and curves, and of the randomisation
// similarities (see evidence_summary.h).
#include "apps/report/evidence_summary.h"

#include <cmath>

namespace sv {

namespace {

// Every image of the neurons' pairs: its per-method curves.
std::vector<const std::vector<FaithCurves>*> faith_images(const std::vector<const NeuronResult*>& neurons) {
  std::vector<const std::vector<FaithCurves>*> out;
  for (const NeuronResult* n : neurons)
    for (const PairResult& p : n->pairs)
      for (const std::vector<FaithCurves>* side : {&p.faith_ooc, &p.faith_ref})
        if (!side->empty()) out.push_back(side);
  return out;
}

const FaithCurves* find(const std::vector<FaithCurves>& v, const std::string& method) {
  for (const FaithCurves& c : v)
    if (c.method == method) return &c;
  return nullptr;
}

bool finite(const FaithCurves& c) { return std::isfinite(c.deletion_auc) && std::isfinite(c.insertion_auc); }

void add_normalised(std::vector<double>& sum, const std::vector<double>& r, double full, double base) {
  if (sum.size() < r.size()) sum.resize(r.size(), 0.0);
  for (size_t k = 0; k < r.size(); ++k) sum[k] += (r[k] - base) / (full - base);
}

}  // namespace

std::vector<FaithSummary> faith_summary(const std::vector<const NeuronResult*>& neurons) {
  const auto images = faith_images(neurons);
  std::vector<FaithSummary> rows;
  if (images.empty()) return rows;
  for (const FaithCurves& method : *images.front()) {
    FaithSummary s;
    s.method = method.method;
    double del = 0, ins = 0;
    int64_t compared = 0, del_wins = 0, ins_wins = 0;
    for (const auto* img : images) {
      const FaithCurves* c = find(*img, s.method);
      if (!c || !finite(*c)) continue;
      ++s.images;
      del += c->deletion_auc;
      ins += c->insertion_auc;
      add_normalised(s.deletion_curve, c->deletion, c->r_full, c->r_base);
      add_normalised(s.insertion_curve, c->insertion, c->r_full, c->r_base);
      const FaithCurves* rnd = find(*img, "random");
      if (s.method != "random" && rnd && finite(*rnd)) {
        ++compared;
        del_wins += c->deletion_auc < rnd->deletion_auc ? 1 : 0;
        ins_wins += c->insertion_auc > rnd->insertion_auc ? 1 : 0;
      }
    }
    if (s.images > 0) {
      const auto n = static_cast<double>(s.images);
      s.deletion_auc = del / n;
      s.insertion_auc = ins / n;
      for (double& v : s.deletion_curve) v /= n;
      for (double& v : s.insertion_curve) v /= n;
    }
    if (compared > 0) {
      s.deletion_beats_random = static_cast<double>(del_wins) / static_cast<double>(compared);
      s.insertion_beats_random = static_cast<double>(ins_wins) / static_cast<double>(compared);
    }
    rows.push_back(s);
  }
  return rows;
}

std::vector<RandomisationSummary> randomisation_summary(const std::vector<const NeuronResult*>& neurons) {
  std::vector<RandomisationSummary> rows;
  std::vector<double> rho, ss;
  std::vector<int64_t> n_rho, n_ss;
  for (const NeuronResult* n : neurons)
    for (const PairResult& p : n->pairs)
      for (const std::vector<RandomisationPoint>* side : {&p.rand_ooc, &p.rand_ref})
        for (size_t k = 0; k < side->size(); ++k) {
          if (rows.size() <= k) {
            rows.push_back({(*side)[k].stage, 0, kNoValue, kNoValue});
            rho.push_back(0), ss.push_back(0), n_rho.push_back(0), n_ss.push_back(0);
          }
          if (std::isfinite((*side)[k].spearman)) rho[k] += (*side)[k].spearman, ++n_rho[k];
          if (std::isfinite((*side)[k].ssim)) ss[k] += (*side)[k].ssim, ++n_ss[k];
        }
  for (size_t k = 0; k < rows.size(); ++k) {
    rows[k].images = n_rho[k];
    if (n_rho[k] > 0) rows[k].spearman = rho[k] / static_cast<double>(n_rho[k]);
    if (n_ss[k] > 0) rows[k].ssim = ss[k] / static_cast<double>(n_ss[k]);
  }
  return rows;
}

std::vector<const NeuronResult*> fitted_neurons(const RunResult& r) {
  std::vector<const NeuronResult*> out;
  for (const NeuronResult& n : r.neurons)
    if (!n.skipped) out.push_back(&n);
  return out;
}

}  // namespace sv
