// The r values of a readout, each with the predictions and images it comes from, and the
// flags of a readout that collapsed (see readout_quality.h).
#include "apps/method/readout_quality.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace sv {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string g3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Population standard deviation; NaN when empty or any value is not finite.
double sd(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

double sd_ratio(const std::vector<double>& pred, const std::vector<double>& y) {
  const double sy = sd(y), sp = sd(pred);
  return std::isfinite(sy) && std::isfinite(sp) && sy > 0 ? sp / sy : kNaN;
}

double r_over(const std::vector<double>& a, const std::vector<double>& b, const std::vector<int64_t>& rows) {
  std::vector<double> x, y;
  for (int64_t i : rows) {
    x.push_back(a[static_cast<size_t>(i)]);
    y.push_back(b[static_cast<size_t>(i)]);
  }
  return pearson(x, y);
}

}  // namespace

ReadoutScores score_readout(const RidgeFit& fit, const std::vector<double>& y, const std::vector<double>& final_pred,
                            const std::vector<int64_t>& fit_rows, const std::vector<int64_t>& pref,
                            const std::vector<int64_t>& ooc) {
  ReadoutScores s;
  s.prediction = final_pred;
  s.fitted.assign(y.size(), false);
  for (size_t i = 0; i < fit_rows.size(); ++i) {
    const auto row = static_cast<size_t>(fit_rows[i]);
    s.fitted[row] = true;
    s.prediction[row] = i < fit.oof.size() ? fit.oof[i] : kNaN;
  }
  std::vector<int64_t> ooc_out, ooc_in;
  for (int64_t i : ooc) (s.fitted[static_cast<size_t>(i)] ? ooc_in : ooc_out).push_back(i);
  s.cv_fold_mean = fit.cv_score;
  s.within_oof = r_over(s.prediction, y, pref);
  s.ooc_held_out = r_over(final_pred, y, ooc_out);
  s.ooc_oof = r_over(s.prediction, y, ooc_in);
  s.n_within = static_cast<int64_t>(pref.size());
  s.n_ooc_held_out = static_cast<int64_t>(ooc_out.size());
  s.n_ooc_oof = static_cast<int64_t>(ooc_in.size());
  return s;
}

ReadoutCheck check_readout(const RidgeFit& fit, const std::vector<double>& grid, bool one_se,
                           const std::vector<double>& y_fit, const std::vector<double>& final_pred_fit) {
  ReadoutCheck c;
  c.prediction_sd_ratio = sd_ratio(final_pred_fit, y_fit);
  c.oof_sd_ratio = sd_ratio(fit.oof, y_fit);
  c.lambda_searched = grid.size() > 1;
  const std::string n = std::to_string(y_fit.size());
  if (c.lambda_searched && fit.lambda == grid.back()) {
    // The best point of the CV curve, to say how far the 1se rule moved from it.
    size_t best = 0;
    for (size_t l = 0; l < fit.cv_curve.size(); ++l)
      if (std::isfinite(fit.cv_curve[l]) && !(fit.cv_curve[l] <= fit.cv_curve[best])) best = l;
    const bool signal = best < fit.cv_curve.size() && fit.cv_curve[best] > 0;
    const bool moved = one_se && signal && grid[best] != fit.lambda;
    std::string reason = "λ = " + g3(fit.lambda) + " is the largest value of the grid";
    if (moved)
      reason += ": the 1se rule took the largest λ whose CV score (" + g3(fit.cv_score) +
                ") is within one standard error of the best (" + g3(fit.cv_curve[best]) + " at λ = " +
                g3(grid[best]) + "); with " + n + " fit images that error is wide, and the most regularised readout "
                "on the grid is close to a constant";
    else if (!signal)
      reason += ": on " + n + " fit images no λ of the grid has a positive CV score, so the cross-validation "
                "found no signal and the readout's weights are noise";
    else
      reason += ": on " + n + " fit images no λ predicted better in cross-validation than the most regularised "
                "readout, so its weights carry little of the response";
    c.flags.push_back({"lambda_at_upper_edge", reason,
                       std::string(moved ? "use --lambda-rule best (the default); " : "") +
                           "fit on more images (a larger --limit, more recorded images, or --fit-on all), or try "
                           "another --layer; extending the grid upward (--lambda-grid) only confirms a flat CV curve"});
  }
  if (c.lambda_searched && fit.lambda == grid.front() && grid.front() != grid.back()) {
    c.flags.push_back({"lambda_at_lower_edge",
                       "λ = " + g3(fit.lambda) + " is the smallest value of the grid: the CV curve may still rise "
                       "below it, so the chosen readout is not the one cross-validation would pick",
                       "extend the grid downward, e.g. --lambda-grid " + g3(fit.lambda / 100) + "," +
                           g3(grid.back()) + "," + std::to_string(grid.size() + 4)});
  }
  const bool flat_final = std::isfinite(c.prediction_sd_ratio) && c.prediction_sd_ratio < kNearConstantRatio;
  const bool flat_oof = std::isfinite(c.oof_sd_ratio) && c.oof_sd_ratio < kNearConstantRatio;
  if (flat_final || flat_oof) {
    const double ratio = flat_final ? c.prediction_sd_ratio : c.oof_sd_ratio;
    c.flags.push_back({"near_constant_predictions",
                       "the standard deviation of " + std::string(flat_final ? "the readout's" : "the out-of-fold") +
                           " predictions over its " + n + " fit images is " + g3(ratio) +
                           " times that of the recorded responses (below " + g3(kNearConstantRatio) +
                           "): the readout is close to a constant, and the gradient of a constant is noise",
                       "choose a smaller λ (--lambda-rule best, or --lambda), fit on more images, or try another "
                       "--layer"});
  }
  return c;
}

}  // namespace sv
