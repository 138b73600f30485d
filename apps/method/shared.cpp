// α rules and the top shared dimensions.
#include "apps/method/shared.h"

#include <algorithm>
#include <cmath>

#include "autodiff/error.h"

namespace sv {

std::vector<double> shared_weights(SharedRule rule, const std::vector<double>& c_o, const std::vector<double>& c_r,
                                   double* l1) {
  SV_CHECK(c_o.size() == c_r.size(), ShapeError, "shared_weights: the two contribution vectors differ in size");
  std::vector<double> a(c_o.size(), 0.0);
  double total = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double po = std::max(c_o[i], 0.0), pr = std::max(c_r[i], 0.0);
    switch (rule) {
      case SharedRule::ReluProduct: a[i] = po * pr; break;
      case SharedRule::SignedProduct: a[i] = c_o[i] * c_r[i]; break;
      case SharedRule::Min: a[i] = std::min(po, pr); break;
      case SharedRule::Geomean: a[i] = std::sqrt(po * pr); break;
    }
    total += std::abs(a[i]);
  }
  if (l1) *l1 = total;
  if (total > 0)
    for (double& x : a) x /= total;
  return a;
}

std::vector<TopDim> top_dims(const std::vector<double>& alpha, int m) {
  std::vector<TopDim> out;
  for (size_t i = 0; i < alpha.size(); ++i)
    if (alpha[i] > 0) out.push_back({static_cast<int64_t>(i), alpha[i]});
  std::stable_sort(out.begin(), out.end(), [](const TopDim& a, const TopDim& b) { return a.alpha > b.alpha; });
  if (m >= 0 && out.size() > static_cast<size_t>(m)) out.resize(static_cast<size_t>(m));
  return out;
}

}  // namespace sv
