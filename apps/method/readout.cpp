// Standardization, ridge by SVD with per-neuron cross-validated λ, Pearson, reliability.
#include "apps/method/readout.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "autodiff/error.h"

namespace sv {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kSigmaFloor = 1e-6;

// Thin SVD of a centered design: A (n, D) = U (n, r) diag(s) Vt (r, D), r = min(n, D).
struct Svd {
  int64_t r = 0;
  std::vector<double> U, s, Vt;
};

Svd thin_svd(Mat A) {
  Svd out;
  const int64_t n = A.rows, D = A.cols;
  out.r = std::min(n, D);
  if (out.r == 0) return out;
  out.U.assign(static_cast<size_t>(n * out.r), 0.0);
  out.s.assign(static_cast<size_t>(out.r), 0.0);
  out.Vt.assign(static_cast<size_t>(out.r * D), 0.0);
  lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', static_cast<lapack_int>(n), static_cast<lapack_int>(D),
                                   A.v.data(), static_cast<lapack_int>(D), out.s.data(), out.U.data(),
                                   static_cast<lapack_int>(out.r), out.Vt.data(), static_cast<lapack_int>(D));
  SV_CHECK(info == 0, Error, "ridge: the SVD of the design matrix failed (LAPACKE_dgesdd info " +
                                 std::to_string(info) + ")");
  return out;
}

// Shrinkage factors s / (s² + λ), with numerically null directions dropped.
std::vector<double> shrink(const std::vector<double>& s, double lambda) {
  std::vector<double> f(s.size(), 0.0);
  const double smax = s.empty() ? 0.0 : s[0];
  for (size_t j = 0; j < s.size(); ++j)
    if (s[j] > 1e-12 * smax && s[j] > 0) f[j] = s[j] / (s[j] * s[j] + lambda);
  return f;
}

// Column means of the listed rows.
std::vector<double> col_means(const Mat& m, const std::vector<int64_t>& rows) {
  std::vector<double> mean(static_cast<size_t>(m.cols), 0.0);
  for (int64_t r : rows)
    for (int64_t c = 0; c < m.cols; ++c) mean[static_cast<size_t>(c)] += m(r, c);
  for (double& x : mean) x /= std::max<size_t>(rows.size(), 1);
  return mean;
}

Mat centered_rows(const Mat& m, const std::vector<int64_t>& rows, const std::vector<double>& mean) {
  Mat out(static_cast<int64_t>(rows.size()), m.cols);
  for (size_t i = 0; i < rows.size(); ++i)
    for (int64_t c = 0; c < m.cols; ++c) out(static_cast<int64_t>(i), c) = m(rows[i], c) - mean[static_cast<size_t>(c)];
  return out;
}

// C (m, n) = A (m, k) · B (k, n), or with A transposed (A stored (k, m)) / B transposed (B stored (n, k)).
std::vector<double> gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* A, const double* B) {
  std::vector<double> C(static_cast<size_t>(m * n), 0.0);
  if (m == 0 || n == 0 || k == 0) return C;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0, A, static_cast<int>(ta ? m : k), B,
              static_cast<int>(tb ? k : n), 0.0, C.data(), static_cast<int>(n));
  return C;
}

// Everything one training set gives: its SVD, the means, and Uᵀ Y_c (r, M).
struct FoldSolver {
  std::vector<double> zmean, ymean;
  Svd svd;
  std::vector<double> UtY;  // (r, M)

  FoldSolver(const Mat& Z, const Mat& Y, const std::vector<int64_t>& rows) {
    zmean = col_means(Z, rows);
    ymean = col_means(Y, rows);
    svd = thin_svd(centered_rows(Z, rows, zmean));
    Mat Yc = centered_rows(Y, rows, ymean);
    UtY = gemm(true, false, svd.r, Y.cols, static_cast<int64_t>(rows.size()), svd.U.data(), Yc.v.data());
  }
  // Projections (Z_rows − z̄) V: (rows, r).
  std::vector<double> project(const Mat& Z, const std::vector<int64_t>& rows) const {
    Mat Zc = centered_rows(Z, rows, zmean);
    return gemm(false, true, Zc.rows, svd.r, Z.cols, Zc.v.data(), svd.Vt.data());
  }
  // Coefficients of column m at λ: w = Vᵀᵀ diag(f) Uᵀ y_c, b = ȳ − z̄·w.
  void coefficients(int64_t m, int64_t M, double lambda, std::vector<double>& w, double& b) const {
    const std::vector<double> f = shrink(svd.s, lambda);
    const int64_t D = static_cast<int64_t>(zmean.size());
    w.assign(static_cast<size_t>(D), 0.0);
    for (int64_t j = 0; j < svd.r; ++j) {
      const double a = f[static_cast<size_t>(j)] * UtY[static_cast<size_t>(j * M + m)];
      if (a == 0) continue;
      const double* vt = svd.Vt.data() + j * D;
      for (int64_t d = 0; d < D; ++d) w[static_cast<size_t>(d)] += a * vt[d];
    }
    b = ymean[static_cast<size_t>(m)];
    for (int64_t d = 0; d < D; ++d) b -= zmean[static_cast<size_t>(d)] * w[static_cast<size_t>(d)];
  }
};

}  // namespace

Standardizer fit_standardizer(const Mat& phi, const std::vector<int64_t>& rows) {
  SV_CHECK(!rows.empty(), ValueError, "standardize: no images to take the feature statistics from");
  Standardizer st;
  st.mu = col_means(phi, rows);
  st.sigma.assign(static_cast<size_t>(phi.cols), 0.0);
  st.constant.assign(static_cast<size_t>(phi.cols), false);
  for (int64_t r : rows)
    for (int64_t c = 0; c < phi.cols; ++c) {
      const double d = phi(r, c) - st.mu[static_cast<size_t>(c)];
      st.sigma[static_cast<size_t>(c)] += d * d;
    }
  for (size_t c = 0; c < st.sigma.size(); ++c) {
    const double sd = std::sqrt(st.sigma[c] / static_cast<double>(rows.size()));
    st.constant[c] = sd < kSigmaFloor;
    st.sigma[c] = std::max(sd, kSigmaFloor);
  }
  return st;
}

Mat standardize(const Mat& phi, const Standardizer& st) {
  SV_CHECK(static_cast<size_t>(phi.cols) == st.mu.size(), ShapeError, "standardize: feature dimension mismatch");
  Mat z(phi.rows, phi.cols);
  for (int64_t r = 0; r < phi.rows; ++r)
    for (int64_t c = 0; c < phi.cols; ++c) {
      const size_t i = static_cast<size_t>(c);
      z(r, c) = st.constant[i] ? 0.0 : (phi(r, c) - st.mu[i]) / st.sigma[i];
    }
  return z;
}

std::vector<double> log_grid(double lo, double hi, int n) {
  SV_CHECK(lo > 0 && hi > 0 && n >= 1, ValueError, "--lambda-grid: expected lo,hi,n with lo, hi > 0 and n >= 1");
  SV_CHECK(hi >= lo, ValueError, "--lambda-grid: hi must not be smaller than lo");
  std::vector<double> g(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    g[static_cast<size_t>(i)] = n == 1 ? lo : std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * i / (n - 1));
  return g;
}

std::vector<int> assign_folds(int64_t n, int k, uint64_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int> fold(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) fold[static_cast<size_t>(perm[static_cast<size_t>(i)])] = static_cast<int>(i % k);
  return fold;
}

std::vector<RidgeFit> fit_ridge(const Mat& Z, const Mat& Y, const RidgeOptions& opt) {
  const int64_t n = Z.rows, D = Z.cols, M = Y.cols;
  const auto L = static_cast<int64_t>(opt.lambdas.size());
  SV_CHECK(Y.rows == n, ShapeError, "ridge: design and responses differ in row count");
  SV_CHECK(L >= 1, ValueError, "ridge: empty λ grid");
  for (double l : opt.lambdas) SV_CHECK(l >= 0 && std::isfinite(l), ValueError, "ridge: λ must be finite and >= 0");
  const bool search = L > 1;
  const bool cv = opt.folds >= 2;
  SV_CHECK(!search || cv, ValueError, "ridge: choosing λ needs --folds >= 2");
  SV_CHECK(!cv || n >= opt.folds, ValueError,
           "ridge: " + std::to_string(n) + " images to fit on, fewer than the " + std::to_string(opt.folds) +
               " cross-validation folds");

  std::vector<RidgeFit> fits(static_cast<size_t>(M));
  // score[l][m]: sum over folds of held-out r, count[l][m]: folds where r was defined.
  std::vector<double> score(static_cast<size_t>(L * M), 0.0), count(static_cast<size_t>(L * M), 0.0);
  std::vector<double> score_sq(static_cast<size_t>(L * M), 0.0);
  // oof[l][i][m]: out-of-fold predictions for every λ (n·M·L doubles: small).
  std::vector<double> oof(cv ? static_cast<size_t>(L * n * M) : 0, kNaN);
  if (cv) {
    const std::vector<int> fold = assign_folds(n, opt.folds, opt.seed);
    for (int f = 0; f < opt.folds; ++f) {
      std::vector<int64_t> train, test;
      for (int64_t i = 0; i < n; ++i) (fold[static_cast<size_t>(i)] == f ? test : train).push_back(i);
      FoldSolver solver(Z, Y, train);
      const std::vector<double> P = solver.project(Z, test);  // (nt, r)
      const auto nt = static_cast<int64_t>(test.size());
      const int64_t r = solver.svd.r;
      std::vector<double> pred(static_cast<size_t>(nt)), truth(static_cast<size_t>(nt));
      for (int64_t l = 0; l < L; ++l) {
        const std::vector<double> sh = shrink(solver.svd.s, opt.lambdas[static_cast<size_t>(l)]);
        // B (r, M) = diag(sh) UᵀY_c, then predictions (nt, M) = P B + ȳ.
        std::vector<double> B(solver.UtY);
        for (int64_t j = 0; j < r; ++j)
          for (int64_t m = 0; m < M; ++m) B[static_cast<size_t>(j * M + m)] *= sh[static_cast<size_t>(j)];
        const std::vector<double> Pr = gemm(false, false, nt, M, r, P.data(), B.data());
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t t = 0; t < nt; ++t) {
            const int64_t i = test[static_cast<size_t>(t)];
            pred[static_cast<size_t>(t)] = Pr[static_cast<size_t>(t * M + m)] + solver.ymean[static_cast<size_t>(m)];
            truth[static_cast<size_t>(t)] = Y(i, m);
            oof[static_cast<size_t>((l * n + i) * M + m)] = pred[static_cast<size_t>(t)];
          }
          const double rr = pearson(pred.data(), truth.data(), nt);
          if (std::isfinite(rr)) {
            score[static_cast<size_t>(l * M + m)] += rr;
            score_sq[static_cast<size_t>(l * M + m)] += rr * rr;
            count[static_cast<size_t>(l * M + m)] += 1;
          }
        }
      }
    }
  }

  for (int64_t m = 0; m < M; ++m) {
    RidgeFit& fit = fits[static_cast<size_t>(m)];
    fit.cv_curve.assign(static_cast<size_t>(L), kNaN);
    int64_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (int64_t l = 0; l < L; ++l) {
      const double c = count[static_cast<size_t>(l * M + m)];
      const double s = c > 0 ? score[static_cast<size_t>(l * M + m)] / c : kNaN;
      fit.cv_curve[static_cast<size_t>(l)] = s;
      // Ties (and all-undefined curves) go to the larger λ: the more regularized model.
      if (std::isfinite(s) && s >= best_score) {
        best_score = s;
        best = l;
      }
    }
    if (!std::isfinite(best_score)) best = L - 1;
    if (opt.one_se && std::isfinite(best_score)) {
      // The largest λ whose mean score is within one standard error (across folds) of the best.
      const double c = count[static_cast<size_t>(best * M + m)];
      const double mean = best_score;
      const double var = c > 1 ? std::max(0.0, (score_sq[static_cast<size_t>(best * M + m)] - c * mean * mean) / (c - 1)) : 0.0;
      const double se = c > 0 ? std::sqrt(var / c) : 0.0;
      for (int64_t l = L - 1; l > best; --l) {
        const double s = fit.cv_curve[static_cast<size_t>(l)];
        if (std::isfinite(s) && s >= mean - se && opt.lambdas[static_cast<size_t>(l)] > opt.lambdas[static_cast<size_t>(best)]) {
          best = l;
          break;
        }
      }
    }
    fit.lambda = opt.lambdas[static_cast<size_t>(best)];
    fit.cv_score = cv ? fit.cv_curve[static_cast<size_t>(best)] : kNaN;
    fit.oof.assign(static_cast<size_t>(n), kNaN);
    if (cv)
      for (int64_t i = 0; i < n; ++i) fit.oof[static_cast<size_t>(i)] = oof[static_cast<size_t>((best * n + i) * M + m)];
  }

  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  FoldSolver solver(Z, Y, all);
  for (int64_t m = 0; m < M; ++m) {
    RidgeFit& fit = fits[static_cast<size_t>(m)];
    solver.coefficients(m, M, fit.lambda, fit.w, fit.b);
    SV_CHECK(static_cast<int64_t>(fit.w.size()) == D, Error, "ridge: internal size mismatch");
  }
  return fits;
}

std::vector<double> predict(const RidgeFit& f, const Mat& Z) {
  SV_CHECK(static_cast<size_t>(Z.cols) == f.w.size(), ShapeError, "predict: feature dimension mismatch");
  std::vector<double> out(static_cast<size_t>(Z.rows), f.b);
  for (int64_t r = 0; r < Z.rows; ++r) {
    const double* z = Z.row(r);
    double s = 0;
    for (int64_t c = 0; c < Z.cols; ++c) s += f.w[static_cast<size_t>(c)] * z[c];
    out[static_cast<size_t>(r)] += s;
  }
  return out;
}

double pearson(const double* a, const double* b, int64_t n) {
  if (n < 2) return kNaN;
  double ma = 0, mb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= static_cast<double>(n);
  mb /= static_cast<double>(n);
  double sab = 0, saa = 0, sbb = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  // Relative floor: a column constant up to rounding is constant.
  const double scale_a = std::max(std::abs(ma), 1.0), scale_b = std::max(std::abs(mb), 1.0);
  if (saa <= 1e-24 * scale_a * scale_a * n || sbb <= 1e-24 * scale_b * scale_b * n) return kNaN;
  return sab / std::sqrt(saa * sbb);
}

double spearman_brown(double r) { return 2.0 * r / (1.0 + r); }

double split_half_reliability(const Mat& rep) {
  if (rep.cols < 2 || rep.rows < 2) return kNaN;
  std::vector<double> odd(static_cast<size_t>(rep.rows), 0.0), even(static_cast<size_t>(rep.rows), 0.0);
  for (int64_t i = 0; i < rep.rows; ++i) {
    int no = 0, ne = 0;
    for (int64_t j = 0; j < rep.cols; ++j) {
      if (j % 2 == 0) {
        odd[static_cast<size_t>(i)] += rep(i, j);
        ++no;
      } else {
        even[static_cast<size_t>(i)] += rep(i, j);
        ++ne;
      }
    }
    odd[static_cast<size_t>(i)] /= no;
    even[static_cast<size_t>(i)] /= ne;
  }
  const double r = pearson(odd, even);
  return std::isfinite(r) ? spearman_brown(r) : kNaN;
}

}  // namespace sv
