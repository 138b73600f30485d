// Spearman's ρ and SSIM, plainly (see rank_stats.h).
#include "apps/method/rank_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "apps/method/readout.h"
#include "autodiff/error.h"

namespace sv {

std::vector<double> fractional_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i + 1;
    while (j < order.size() && v[order[j]] == v[order[i]]) ++j;
    // Positions i .. j-1 (ranks i+1 .. j) hold equal values: each gets their mean.
    const double mean_rank = 0.5 * static_cast<double>(i + 1 + j);
    for (size_t k = i; k < j; ++k) rank[order[k]] = mean_rank;
    i = j;
  }
  return rank;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  return pearson(fractional_ranks(a), fractional_ranks(b));
}

double ssim(const Map2D& a, const Map2D& b, double data_range, int win) {
  SV_CHECK(a.h == b.h && a.w == b.w, ShapeError,
           "ssim: maps of different sizes (" + std::to_string(a.h) + "x" + std::to_string(a.w) + " and " +
               std::to_string(b.h) + "x" + std::to_string(b.w) + ")");
  SV_CHECK(a.h > 0 && a.w > 0 && a.v.size() == static_cast<size_t>(a.h) * a.w && b.v.size() == a.v.size(), ShapeError,
           "ssim: empty or inconsistent map");
  SV_CHECK(win >= 1 && data_range > 0, ValueError, "ssim: window and data range must be positive");
  const int wh = std::min(win, a.h), ww = std::min(win, a.w);
  const double c1 = (0.01 * data_range) * (0.01 * data_range), c2 = (0.03 * data_range) * (0.03 * data_range);
  const double n = static_cast<double>(wh) * ww;
  double sum = 0;
  int64_t windows = 0;
  for (int y0 = 0; y0 + wh <= a.h; ++y0)
    for (int x0 = 0; x0 + ww <= a.w; ++x0) {
      double ma = 0, mb = 0;
      for (int y = y0; y < y0 + wh; ++y)
        for (int x = x0; x < x0 + ww; ++x) {
          ma += a.v[static_cast<size_t>(y) * a.w + x];
          mb += b.v[static_cast<size_t>(y) * a.w + x];
        }
      ma /= n;
      mb /= n;
      double va = 0, vb = 0, cab = 0;
      for (int y = y0; y < y0 + wh; ++y)
        for (int x = x0; x < x0 + ww; ++x) {
          const double da = a.v[static_cast<size_t>(y) * a.w + x] - ma, db = b.v[static_cast<size_t>(y) * a.w + x] - mb;
          va += da * da;
          vb += db * db;
          cab += da * db;
        }
      va /= n;
      vb /= n;
      cab /= n;
      sum += (2 * ma * mb + c1) * (2 * cab + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      ++windows;
    }
  return sum / static_cast<double>(windows);
}

Map2D unit_max(const Map2D& m) {
  Map2D out = m;
  float mx = 0;
  for (float v : m.v) mx = std::max(mx, std::abs(v));
  if (mx > 0)
    for (float& v : out.v) v /= mx;
  return out;
}

}  // namespace sv
