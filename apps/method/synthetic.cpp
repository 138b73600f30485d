// Layer order, halves, and noisy repeats for synthetic neurons.
#include "apps/method/synthetic.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "autodiff/error.h"

namespace sv {

namespace {

void collect_leaves(const Module& m, const std::string& prefix, std::vector<std::string>& out,
                    std::vector<std::string>* kinds) {
  for (const auto& [name, child] : m.children()) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    if (child->children().empty()) {
      out.push_back(path);
      if (kinds) kinds->push_back(child->kind());
    } else {
      collect_leaves(*child, path, out, kinds);
    }
  }
}

bool within(const std::string& leaf, const std::string& layer) {
  return leaf == layer || leaf.rfind(layer + ".", 0) == 0;
}

// Index of the last leaf inside `layer` (-1 when none).
int64_t last_leaf_index(const std::vector<std::string>& leaves, const std::string& layer) {
  int64_t last = -1;
  for (size_t i = 0; i < leaves.size(); ++i)
    if (within(leaves[i], layer)) last = static_cast<int64_t>(i);
  return last;
}

}  // namespace

std::vector<std::string> leaf_layers(const Module& net) {
  std::vector<std::string> out;
  collect_leaves(net, "", out, nullptr);
  return out;
}

std::string output_layer(const Module& net) {
  const std::vector<std::string> leaves = leaf_layers(net);
  SV_CHECK(!leaves.empty(), ValueError, "the model has no layers");
  return leaves.back();
}

std::string last_feature_layer(const Module& net) {
  std::vector<std::string> leaves, kinds;
  collect_leaves(net, "", leaves, &kinds);
  for (size_t i = leaves.size(); i-- > 1;) {
    const size_t j = i - 1;
    if (kinds[j] != "Dropout" && kinds[j] != "Flatten") return leaves[j];
  }
  throw ValueError("the model has no feature layer before its output layer");
}

bool layer_precedes(const Module& net, const std::string& layer, const std::string& source) {
  const std::vector<std::string> leaves = leaf_layers(net);
  const int64_t l = last_leaf_index(leaves, layer), s = last_leaf_index(leaves, source);
  return l >= 0 && s >= 0 && l < s;
}

void check_layer_precedes(const Module& net, const std::string& layer, const std::string& source,
                          const std::string& what) {
  SV_CHECK(layer_precedes(net, layer, source), ValueError,
           "--layer " + layer + " does not come before the synthetic responses' source (" + what + ", layer '" +
               source + "'): the readout must be fitted from an earlier layer; choose an earlier --layer");
}

void split_halves(const std::vector<int>& labels, uint64_t seed, std::vector<int64_t>& a, std::vector<int64_t>& b) {
  std::map<int, std::vector<int64_t>> by_label;
  for (size_t i = 0; i < labels.size(); ++i) by_label[labels[i]].push_back(static_cast<int64_t>(i));
  std::mt19937_64 rng(seed);
  a.clear();
  b.clear();
  for (auto& [label, idx] : by_label) {
    std::shuffle(idx.begin(), idx.end(), rng);
    for (size_t i = 0; i < idx.size(); ++i) (i % 2 == 0 ? a : b).push_back(idx[i]);
  }
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
}

Mat noisy_repeats(const std::vector<double>& clean, double noise, int repeats, std::mt19937_64& rng) {
  SV_CHECK(repeats >= 1, ValueError, "--repeats must be at least 1");
  SV_CHECK(noise >= 0 && std::isfinite(noise), ValueError, "--noise must be >= 0");
  const auto n = static_cast<int64_t>(clean.size());
  double mean = 0, var = 0;
  for (double v : clean) mean += v;
  mean /= std::max<int64_t>(n, 1);
  for (double v : clean) var += (v - mean) * (v - mean);
  const double sd = n > 0 ? std::sqrt(var / static_cast<double>(n)) : 0.0;
  std::normal_distribution<double> nd(0.0, 1.0);
  Mat rep(n, repeats);
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < repeats; ++r) rep(i, r) = clean[static_cast<size_t>(i)] + (noise > 0 ? noise * sd * nd(rng) : 0.0);
  return rep;
}

std::vector<double> repeat_mean(const Mat& rep) {
  std::vector<double> m(static_cast<size_t>(rep.rows), 0.0);
  for (int64_t i = 0; i < rep.rows; ++i) {
    for (int64_t r = 0; r < rep.cols; ++r) m[static_cast<size_t>(i)] += rep(i, r);
    m[static_cast<size_t>(i)] /= std::max<int64_t>(rep.cols, 1);
  }
  return m;
}

Mat logit_responses(const Mat& logits, const std::string& out_layer, const std::vector<int64_t>& units) {
  Mat r(logits.rows, static_cast<int64_t>(units.size()));
  for (size_t j = 0; j < units.size(); ++j) {
    SV_CHECK(units[j] >= 0 && units[j] < logits.cols, ValueError,
             "output unit " + std::to_string(units[j]) + " does not exist: layer " + out_layer + " has " +
                 std::to_string(logits.cols) + " units");
    for (int64_t i = 0; i < logits.rows; ++i) r(i, static_cast<int64_t>(j)) = logits(i, units[j]);
  }
  return r;
}

FittedSource fitted_responses(const Mat& phi, const std::string& source_layer, const std::vector<int>& labels,
                              const std::vector<int>& targets, const RidgeOptions& ridge, uint64_t seed) {
  FittedSource src;
  src.layer = source_layer;
  split_halves(labels, seed, src.fit_half, src.analysed);
  SV_CHECK(!src.fit_half.empty() && !src.analysed.empty(), ValueError,
           "--synthetic-source fitted needs at least two images");
  const Standardizer st = fit_standardizer(phi, src.fit_half);
  const Mat Z = standardize(phi, st);
  const auto M = static_cast<int64_t>(targets.size());
  Mat Y(static_cast<int64_t>(src.fit_half.size()), M);
  for (size_t i = 0; i < src.fit_half.size(); ++i)
    for (int64_t j = 0; j < M; ++j)
      Y(static_cast<int64_t>(i), j) = labels[static_cast<size_t>(src.fit_half[i])] == targets[static_cast<size_t>(j)];
  RidgeOptions ro = ridge;
  ro.folds = static_cast<int>(std::min<int64_t>(ro.folds, static_cast<int64_t>(src.fit_half.size())));
  const std::vector<RidgeFit> fits = fit_ridge(select_rows(Z, src.fit_half), Y, ro);
  const Mat Zb = select_rows(Z, src.analysed);
  src.responses = Mat(static_cast<int64_t>(src.analysed.size()), M);
  for (int64_t j = 0; j < M; ++j) {
    const std::vector<double> p = predict(fits[static_cast<size_t>(j)], Zb);
    for (size_t i = 0; i < p.size(); ++i) src.responses(static_cast<int64_t>(i), j) = p[i];
    src.lambda.push_back(fits[static_cast<size_t>(j)].lambda);
  }
  return src;
}

}  // namespace sv
