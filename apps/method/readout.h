// The neuron model (docs/method.md §1): standardized features and a ridge readout per neuron,
// with λ chosen per neuron by k-fold cross-validation; Pearson r and split-half
// reliability for reporting.
//
//   z_i(x) = (φ_i(x) − μ_i) / σ_i          μ, σ over the fit images, σ floored at 1e-6
//   r̂(x)  = b + Σ_i w_i z_i(x)             c_i(x) = w_i z_i(x)
//
// Cost: every fold needs ONE thin SVD of its centered training design Z_c = U S Vᵀ; then
// for every neuron (column of Y) and every λ on the grid the coefficients are
//   w_λ = V diag(s / (s² + λ)) Uᵀ y_c,
// and the held-out predictions (Z_test − z̄) V diag(s / (s² + λ)) Uᵀ y_c reuse the two
// projections (Z_test − z̄) V and Uᵀ Y_c, so the SVD cost does not grow with the number of
// neurons or λ values.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/method/matrix.h"

namespace sv {

struct Standardizer {
  std::vector<double> mu, sigma;  // (D)
  std::vector<bool> constant;     // (D) raw std < 1e-6: z is 0 and the weight 0
};

// μ, σ (population std) over the listed rows of phi (N, D).
Standardizer fit_standardizer(const Mat& phi, const std::vector<int64_t>& rows);
// z (N, D) for every row of phi; constant dimensions are 0.
Mat standardize(const Mat& phi, const Standardizer& st);

// Log-spaced grid lo .. hi with n values (n = 1: {lo}).
std::vector<double> log_grid(double lo, double hi, int n);

struct RidgeOptions {
  std::vector<double> lambdas{1.0};  // one value: no search
  int folds = 5;
  uint64_t seed = 0;
  // How the λ of a neuron is picked from its CV curve (mean held-out Pearson r per λ):
  // false (the default; docs/method.md §1, --lambda-rule best): the λ with the best score;
  // true (the one-standard-error rule of Breiman et al. and glmnet's lambda.1se): the
  // LARGEST λ whose score is within one standard error (across folds) of the best. Pearson
  // r is blind to the scale of the predictions, so on a response without signal every λ
  // scores ~0 and the best one is chance; the 1-SE rule then takes the most regularized
  // model. With few images (25-50) the SE is wide and the 1-SE rule reaches the grid's
  // top (λ = 1e6, near-constant predictions) even where there is signal; see
  // readout_quality.h for how such a readout is flagged.
  bool one_se = false;
};

// One neuron's fitted readout.
struct RidgeFit {
  double lambda = 0;
  double b = 0;
  std::vector<double> w;            // (D)
  double cv_score = 0;              // mean over folds of the held-out Pearson r at lambda (NaN: no search)
  std::vector<double> cv_curve;     // (lambdas) mean held-out r per λ
  std::vector<double> oof;          // (n) out-of-fold prediction of every fit row at lambda (NaN: no CV)
};

// Fold of each of n rows: a seeded permutation dealt round-robin into k folds.
std::vector<int> assign_folds(int64_t n, int k, uint64_t seed);

// Z (n, D) design rows, Y (n, M) one column per neuron. Cross-validates every column over
// opt.lambdas (with one λ there is nothing to choose, but the out-of-fold predictions are
// still computed when folds >= 2), picks each column's λ (opt.one_se), then refits on all
// n rows. Throws ValueError when n < folds.
std::vector<RidgeFit> fit_ridge(const Mat& Z, const Mat& Y, const RidgeOptions& opt);

// b + Σ_i w_i z_i for every row of Z.
std::vector<double> predict(const RidgeFit& f, const Mat& Z);

// Pearson's r; NaN when either side is constant or n < 2.
double pearson(const double* a, const double* b, int64_t n);
inline double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  return pearson(a.data(), b.data(), static_cast<int64_t>(std::min(a.size(), b.size())));
}
// Spearman–Brown prophecy for doubling the test length: 2r / (1 + r).
double spearman_brown(double r);
// Split-half reliability of repeated measurements rep (n images, R repeats), R >= 2: the
// Pearson r between the means of the odd and even repeats across images, Spearman–Brown
// corrected. NaN when R < 2 or the halves are constant.
double split_half_reliability(const Mat& rep);

}  // namespace sv
