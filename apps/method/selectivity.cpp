// Shift- and scale-invariant selectivity measures (see selectivity.h).
#include "apps/method/selectivity.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "apps/method/references.h"

namespace sv {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double percentile_rank(const std::vector<double>& values, double v) {
  if (values.empty()) return kNaN;
  double below = 0, equal = 0;
  for (double x : values) {
    below += x < v ? 1 : 0;
    equal += x == v ? 1 : 0;
  }
  return 100.0 * (below + 0.5 * equal) / static_cast<double>(values.size());
}

Selectivity selectivity(const std::vector<double>& y, const std::vector<int64_t>& pref,
                        const std::vector<int64_t>& ooc, int top_n) {
  Selectivity s;
  const auto n_all = static_cast<double>(pref.size() + ooc.size());
  s.top_k = static_cast<int64_t>(pref.size());
  s.chance_share = n_all > 0 ? static_cast<double>(ooc.size()) / n_all : kNaN;

  // The K-th highest response over both groups, then the ooc share above it and at it.
  std::vector<double> all;
  for (int64_t i : pref) all.push_back(y[static_cast<size_t>(i)]);
  std::vector<double> pref_y = all;
  for (int64_t i : ooc) all.push_back(y[static_cast<size_t>(i)]);
  if (s.top_k == 0 || all.empty()) {
    s.top_ooc_share = all.empty() ? kNaN : 1.0;
  } else {
    std::vector<double> sorted = all;
    std::nth_element(sorted.begin(), sorted.begin() + (s.top_k - 1), sorted.end(), std::greater<>());
    const double kth = sorted[static_cast<size_t>(s.top_k - 1)];
    double above = 0, above_ooc = 0, tied = 0, tied_ooc = 0;
    for (size_t j = 0; j < all.size(); ++j) {
      const bool is_ooc = j >= pref.size();
      if (all[j] > kth) above += 1, above_ooc += is_ooc;
      if (all[j] == kth) tied += 1, tied_ooc += is_ooc;
    }
    const double places = static_cast<double>(s.top_k) - above;  // 1 .. tied
    s.top_ooc_share = (above_ooc + places * tied_ooc / tied) / static_cast<double>(s.top_k);
  }

  s.top_ooc = top_by_response(y, ooc, top_n);
  double sum = 0;
  for (int64_t i : s.top_ooc) {
    s.ooc_percentiles.push_back(percentile_rank(pref_y, y[static_cast<size_t>(i)]));
    sum += s.ooc_percentiles.back();
  }
  s.top_ooc_percentile = s.top_ooc.empty() || pref_y.empty() ? kNaN : sum / static_cast<double>(s.top_ooc.size());

  bool non_negative = !all.empty();
  double mean_all = 0, mean_ooc = 0;
  for (double v : all) {
    non_negative = non_negative && v >= 0;
    mean_all += v;
  }
  for (int64_t i : ooc) mean_ooc += y[static_cast<size_t>(i)];
  mean_all /= std::max(1.0, n_all);
  mean_ooc /= std::max<double>(1.0, static_cast<double>(ooc.size()));
  s.mean_ratio = non_negative && mean_all > 0 && !ooc.empty() ? mean_ooc / mean_all : kNaN;
  return s;
}

}  // namespace sv
