// The readout (docs/method.md §1): ridge by SVD against the closed form, per-neuron λ by
// cross-validation, Pearson, Spearman–Brown, split-half reliability, standardization.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "apps/method/readout.h"

namespace sv::test {

namespace {

Mat random_mat(int64_t r, int64_t c, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  Mat m(r, c);
  for (double& v : m.v) v = nd(rng);
  return m;
}

// Solves A x = b (A symmetric positive definite, small) by Gaussian elimination.
std::vector<double> solve(std::vector<double> A, std::vector<double> b, int64_t n) {
  for (int64_t k = 0; k < n; ++k) {
    int64_t p = k;
    for (int64_t i = k + 1; i < n; ++i)
      if (std::abs(A[i * n + k]) > std::abs(A[p * n + k])) p = i;
    for (int64_t j = 0; j < n; ++j) std::swap(A[k * n + j], A[p * n + j]);
    std::swap(b[k], b[p]);
    for (int64_t i = k + 1; i < n; ++i) {
      const double f = A[i * n + k] / A[k * n + k];
      for (int64_t j = k; j < n; ++j) A[i * n + j] -= f * A[k * n + j];
      b[i] -= f * b[k];
    }
  }
  std::vector<double> x(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int64_t j = i + 1; j < n; ++j) s -= A[i * n + j] * x[j];
    x[i] = s / A[i * n + i];
  }
  return x;
}

// w = (Zcᵀ Zc + λI)⁻¹ Zcᵀ yc on centered data; b = ȳ − z̄·w.
void closed_form(const Mat& Z, const std::vector<double>& y, double lambda, std::vector<double>& w, double& b) {
  const int64_t n = Z.rows, D = Z.cols;
  std::vector<double> zm(D, 0.0);
  double ym = 0;
  for (int64_t i = 0; i < n; ++i) {
    ym += y[i] / n;
    for (int64_t d = 0; d < D; ++d) zm[d] += Z(i, d) / n;
  }
  std::vector<double> A(D * D, 0.0), rhs(D, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t a = 0; a < D; ++a) {
      rhs[a] += (Z(i, a) - zm[a]) * (y[i] - ym);
      for (int64_t c = 0; c < D; ++c) A[a * D + c] += (Z(i, a) - zm[a]) * (Z(i, c) - zm[c]);
    }
  for (int64_t a = 0; a < D; ++a) A[a * D + a] += lambda;
  w = solve(A, rhs, D);
  b = ym;
  for (int64_t d = 0; d < D; ++d) b -= zm[d] * w[d];
}

}  // namespace

TEST(Readout, RidgeMatchesClosedForm) {
  // Tall (n > D) and wide (D > n) designs, several neurons, each with its own fixed λ.
  for (auto [n, D] : {std::pair<int64_t, int64_t>{30, 5}, {9, 14}}) {
    const Mat Z = random_mat(n, D, 1 + n);
    Mat Y = random_mat(n, 3, 2 + n);
    for (int64_t i = 0; i < n; ++i) Y(i, 2) += 5.0;  // an offset: b must absorb it
    for (double lambda : {0.0, 0.7, 50.0}) {
      if (lambda == 0.0 && D > n) continue;  // singular
      RidgeOptions opt;
      opt.lambdas = {lambda};
      opt.folds = 3;
      const std::vector<RidgeFit> fits = fit_ridge(Z, Y, opt);
      ASSERT_EQ(fits.size(), 3u);
      for (int64_t m = 0; m < 3; ++m) {
        std::vector<double> w;
        double b;
        closed_form(Z, Y.col(m), lambda, w, b);
        EXPECT_DOUBLE_EQ(fits[m].lambda, lambda);
        for (int64_t d = 0; d < D; ++d) EXPECT_NEAR(fits[m].w[d], w[d], 1e-9 * (1 + std::abs(w[d]))) << "n " << n << " d " << d;
        EXPECT_NEAR(fits[m].b, b, 1e-9 * (1 + std::abs(b)));
        // predictions are b + w·z
        const std::vector<double> p = predict(fits[m], Z);
        double s = b;
        for (int64_t d = 0; d < D; ++d) s += w[d] * Z(0, d);
        EXPECT_NEAR(p[0], s, 1e-8);
      }
    }
  }
}

TEST(Readout, OutOfFoldPredictionsUseOnlyTheOtherFolds) {
  const Mat Z = random_mat(20, 4, 3);
  Mat Y = random_mat(20, 1, 4);
  RidgeOptions opt;
  opt.lambdas = {2.0};
  opt.folds = 4;
  opt.seed = 9;
  const std::vector<RidgeFit> fits = fit_ridge(Z, Y, opt);
  const std::vector<int> fold = assign_folds(20, 4, 9);
  for (int f = 0; f < 4; ++f) {
    std::vector<int64_t> train;
    for (int64_t i = 0; i < 20; ++i)
      if (fold[i] != f) train.push_back(i);
    std::vector<double> w;
    double b;
    std::vector<double> ytr;
    for (int64_t i : train) ytr.push_back(Y(i, 0));
    closed_form(select_rows(Z, train), ytr, 2.0, w, b);
    for (int64_t i = 0; i < 20; ++i) {
      if (fold[i] != f) continue;
      double p = b;
      for (int64_t d = 0; d < 4; ++d) p += w[d] * Z(i, d);
      EXPECT_NEAR(fits[0].oof[i], p, 1e-9);
    }
  }
}

TEST(Readout, FoldsAreBalancedAndSeeded) {
  const std::vector<int> a = assign_folds(23, 5, 1), b = assign_folds(23, 5, 1), c = assign_folds(23, 5, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int> count(5, 0);
  for (int f : a) ++count[f];
  for (int k : count) EXPECT_TRUE(k == 4 || k == 5);
}

TEST(Readout, CrossValidationChoosesLambdaByNoise) {
  // Low noise: a small λ. Pure noise: a large λ (1-SE rule). Several seeds, so the test
  // does not rest on one draw; the majority must be right.
  const std::vector<double> grid = log_grid(1e-2, 1e6, 17);
  int small_ok = 0, large_ok = 0;
  const int seeds = 15;
  for (int s = 0; s < seeds; ++s) {
    const int64_t n = 60, D = 20;
    const Mat Z = random_mat(n, D, 100 + s);
    const Mat beta = random_mat(D, 1, 200 + s);
    const Mat noise = random_mat(n, 1, 300 + s);
    Mat Y(n, 2);
    for (int64_t i = 0; i < n; ++i) {
      double sig = 0;
      for (int64_t d = 0; d < D; ++d) sig += Z(i, d) * beta(d, 0);
      Y(i, 0) = sig + 0.05 * std::sqrt(static_cast<double>(D)) * noise(i, 0);  // r² ≈ 0.998
      Y(i, 1) = noise(i, 0);                                                      // no signal
    }
    RidgeOptions opt;
    opt.lambdas = grid;
    opt.folds = 5;
    opt.seed = s;
    opt.one_se = true;  // the 1-SE rule; the default (best) takes a chance λ on pure noise
    const std::vector<RidgeFit> fits = fit_ridge(Z, Y, opt);
    small_ok += fits[0].lambda <= 1.0;
    large_ok += fits[1].lambda >= 1e3;
    EXPECT_GT(fits[0].cv_score, 0.95);
    EXPECT_EQ(fits[0].cv_curve.size(), grid.size());
  }
  EXPECT_GE(small_ok, seeds - 1);
  EXPECT_GE(large_ok, seeds * 2 / 3);
}

TEST(Readout, FixedLambdaAndTooFewImages) {
  const Mat Z = random_mat(4, 3, 5);
  const Mat Y = random_mat(4, 1, 6);
  RidgeOptions opt;
  opt.lambdas = log_grid(1e-2, 1e2, 5);
  opt.folds = 5;
  EXPECT_THROW(fit_ridge(Z, Y, opt), ValueError);
}

TEST(Readout, LogGrid) {
  const std::vector<double> g = log_grid(1e-2, 1e6, 17);
  ASSERT_EQ(g.size(), 17u);
  EXPECT_NEAR(g.front(), 1e-2, 1e-15);
  EXPECT_NEAR(g[2], 1e-1, 1e-14);
  EXPECT_NEAR(g.back(), 1e6, 1e-6);
  EXPECT_THROW(log_grid(0, 1, 3), ValueError);
}

TEST(Readout, PearsonAndSpearmanBrown) {
  EXPECT_NEAR(pearson({1, 2, 3, 4}, {2, 4, 6, 8}), 1.0, 1e-12);
  EXPECT_NEAR(pearson({1, 2, 3, 4}, {8, 6, 4, 2}), -1.0, 1e-12);
  // Hand computed: x = (1, 2, 3), y = (1, 3, 2): cov = 0.5, var = 1, 1 -> r = 0.5.
  EXPECT_NEAR(pearson({1, 2, 3}, {1, 3, 2}), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(pearson({1}, {1})));
  EXPECT_NEAR(spearman_brown(0.5), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(spearman_brown(1.0), 1.0, 1e-12);
  EXPECT_NEAR(spearman_brown(0.0), 0.0, 1e-12);
}

TEST(Readout, SplitHalfReliability) {
  // Repeats (odd: columns 0, 2; even: column 1, 3). Identical halves: reliability 1.
  Mat rep(4, 4);
  const double base[4] = {1, 5, 2, 7};
  for (int i = 0; i < 4; ++i)
    for (int r = 0; r < 4; ++r) rep(i, r) = base[i];
  EXPECT_NEAR(split_half_reliability(rep), 1.0, 1e-12);
  // Hand computed: odd means (1, 2, 3), even means (1, 3, 2): r = 0.5 -> 2/3.
  Mat rep2(3, 2);
  rep2(0, 0) = 1, rep2(1, 0) = 2, rep2(2, 0) = 3;
  rep2(0, 1) = 1, rep2(1, 1) = 3, rep2(2, 1) = 2;
  EXPECT_NEAR(split_half_reliability(rep2), 2.0 / 3.0, 1e-12);
  EXPECT_TRUE(std::isnan(split_half_reliability(Mat(3, 1))));
  // Noise lowers it: signal sd 1, noise sd 1 per repeat, R = 2 -> ρ = 1/2, SB = 2/3.
  const int64_t n = 20000;
  const Mat sig = random_mat(n, 1, 7), noise = random_mat(n, 2, 8);
  Mat rep3(n, 2);
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < 2; ++r) rep3(i, r) = sig(i, 0) + noise(i, r);
  EXPECT_NEAR(split_half_reliability(rep3), 2.0 / 3.0, 0.02);
}

TEST(Readout, StandardizerFloorsConstantDims) {
  Mat phi(3, 2);
  phi(0, 0) = 1, phi(1, 0) = 2, phi(2, 0) = 3;
  phi(0, 1) = phi(1, 1) = phi(2, 1) = 4;
  const Standardizer st = fit_standardizer(phi, {0, 1, 2});
  EXPECT_NEAR(st.mu[0], 2.0, 1e-12);
  EXPECT_NEAR(st.sigma[0], std::sqrt(2.0 / 3.0), 1e-12);
  EXPECT_TRUE(st.constant[1]);
  EXPECT_FALSE(st.constant[0]);
  EXPECT_DOUBLE_EQ(st.sigma[1], 1e-6);
  const Mat z = standardize(phi, st);
  EXPECT_NEAR(z(0, 0), -1.0 / std::sqrt(2.0 / 3.0), 1e-12);
  EXPECT_EQ(z(1, 1), 0.0);
  // Statistics over a subset of rows.
  const Standardizer s2 = fit_standardizer(phi, {0, 1});
  EXPECT_NEAR(s2.mu[0], 1.5, 1e-12);
}

}  // namespace sv::test
