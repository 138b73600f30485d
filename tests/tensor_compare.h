// Test and benchmark helpers, one home each: seeded random tensors (plain, away from ReLU
// kinks, pairwise distinct for max pooling, with ties) and the error metrics every
// comparison uses. Used by tests/ and bench/.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "autodiff/tensor.h"

namespace sv::test {

// Normal samples with the given standard deviation, reproducible from the seed; drawn in
// float64 and rounded to dt, so the float32 and float64 tensors of one seed hold the same
// values up to rounding.
inline Tensor randn(const Shape& s, uint64_t seed, DType dt = DType::F64, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  Tensor t = Tensor::empty(s, DType::F64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = nd(rng);
  return t.to(dt);
}

// Normal samples with |x| > margin (rejection sampling): no value sits near a ReLU kink.
inline Tensor randn_away_from_zero(const Shape& s, uint64_t seed, double margin) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Tensor t = Tensor::empty(s, DType::F64);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = nd(rng);
    while (std::abs(v) <= margin) v = nd(rng);
    t.data<double>()[i] = v;
  }
  return t;
}

// The values (i - n/2) * spacing for i < n in a random order: every two elements differ by
// at least `spacing`, so every max-pool window has a unique maximum by that margin.
inline Tensor distinct_values(const Shape& s, uint64_t seed, double spacing = 0.01) {
  Tensor t = Tensor::empty(s, DType::F64);
  const int64_t n = t.numel();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  for (int64_t i = 0; i < n; ++i) t.data<double>()[i] = static_cast<double>(order[i] - n / 2) * spacing;
  return t;
}

// Integers in about [-3, 3]: many ties for max pooling (first max wins), exact zeros for ReLU.
inline Tensor rand_ties(const Shape& s, uint64_t seed, DType dt = DType::F64) {
  Tensor t = randn(s, seed, DType::F64, 1.5);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = std::round(t.data<double>()[i]);
  return t.to(dt);
}

inline double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a.item(i) * b.item(i);
  return s;
}

inline double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t.item(i)));
  return m;
}

// max over elements of |a - b| / (atol + rtol * |b|), b the reference; <= 1 means "close".
// NaN anywhere in a where b has none counts as infinitely far. Sizes must agree (callers
// check shapes first); a size mismatch is infinitely far too.
inline double mixed_error(const Tensor& a, const Tensor& b, double atol, double rtol) {
  if (a.numel() != b.numel()) return INFINITY;
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.item(i), r = b.item(i);
    if (std::isnan(x) != std::isnan(r)) return INFINITY;
    if (std::isnan(r)) continue;
    worst = std::max(worst, std::abs(x - r) / (atol + rtol * std::abs(r)));
  }
  return worst;
}

// mixed_error with atol relative to the reference's scale: atol_rel * max(max |b|, 1).
inline double scaled_error(const Tensor& a, const Tensor& b, double atol_rel, double rtol) {
  return mixed_error(a, b, atol_rel * std::max(max_abs(b), 1.0), rtol);
}

// Normalised error: max |a - b| / max |b| (0 when equal), b the reference; NaN: infinite.
inline double normalized_error(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return INFINITY;
  double num = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::abs(a.item(i) - b.item(i));
    if (std::isnan(d)) return INFINITY;
    num = std::max(num, d);
  }
  return num / std::max(max_abs(b), 1e-30);
}

// Relative error in the L2 norm: ||a - b|| / ||b||, b the reference.
inline double rel_l2_error(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return INFINITY;
  double d = 0, n = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    d += (a.item(i) - b.item(i)) * (a.item(i) - b.item(i));
    n += b.item(i) * b.item(i);
  }
  return std::sqrt(d / std::max(n, 1e-300));
}

}  // namespace sv::test
