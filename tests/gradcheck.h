// Gradient checks: backward (vjp) against central finite differences, in float64.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <string>

#include "backends/factory.h"
#include "layers/ops.h"
#ifdef SHAREDVIS_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace sv::test {

// Convolution parameters in one call: stride, padding (h and w), dilation, groups.
inline Conv2dParams conv_params(int sh, int sw, int ph, int pw, int dh = 1, int dw = 1, int groups = 1) {
  Conv2dParams p;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.dil_h = dh;
  p.dil_w = dw;
  p.groups = groups;
  return p;
}
// The same stride, padding and dilation in both directions.
inline Conv2dParams square_conv(int stride, int pad, int dil = 1, int groups = 1) {
  return conv_params(stride, stride, pad, pad, dil, dil, groups);
}

// Pool parameters in one call: kernel, stride, padding (h and w), ceil_mode, count_include_pad.
inline Pool2dParams pool_params(int kh, int kw, int sh, int sw, int ph, int pw, bool ceil_mode,
                                bool include_pad = true) {
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.ceil_mode = ceil_mode;
  p.count_include_pad = include_pad;
  return p;
}

// Why a CUDA test skips on this machine.
inline std::string no_cuda_reason() {
#ifdef SHAREDVIS_HAVE_CUDA
  return "no CUDA device: " + cuda_unavailable_reason();
#else
  return "no CUDA device: this sharedvis was built without CUDA (SHAREDVIS_CUDA=OFF or no nvcc)";
#endif
}

// The CUDA backend that the CUDA tests compare with the CPU reference: deterministic
// algorithms, full float32 (no TF32). Call only where cuda_available().
inline std::unique_ptr<Backend> make_test_gpu() {
#ifdef SHAREDVIS_HAVE_CUDA
  CudaOptions o = CudaOptions::from_env();
  o.deterministic = true;
  o.tf32 = false;
  return make_cuda_backend(0, o);
#else
  return nullptr;
#endif
}

inline Tensor randn(const Shape& s, uint64_t seed, DType dt = DType::F64, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  Tensor t = Tensor::empty(s, DType::F64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = nd(rng);
  return t.to(dt);
}

inline double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a.item(i) * b.item(i);
  return s;
}

// max over elements of |a - b| / (atol + rtol * |b|); <= 1 means "close".
inline double mixed_error(const Tensor& a, const Tensor& b, double atol, double rtol) {
  EXPECT_EQ(a.numel(), b.numel());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::abs(a.item(i) - b.item(i)) / (atol + rtol * std::abs(b.item(i))));
  return worst;
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

#define EXPECT_CLOSE(a, b, atol, rtol) EXPECT_LE(::sv::test::mixed_error((a), (b), (atol), (rtol)), 1.0)

using GraphFn = std::function<Var(Graph&, const std::vector<Var>&)>;

// Checks d<v, f(x)>/dx_j from the graph's vjp against central differences for every
// element of every input (float64, on the CPU reference backend or the fast one).
inline void gradcheck(const GraphFn& f, const std::vector<Tensor>& inputs, double h = 1e-6, double atol = 1e-7,
                      double rtol = 1e-5, uint64_t seed = 7, bool reference = true) {
  auto be = make_cpu_backend(reference);
  Graph g(*be);
  std::vector<Var> vars;
  for (const Tensor& t : inputs) vars.push_back(g.input(t, true));
  Var y = f(g, vars);
  Tensor v = randn(y.shape(), seed);
  Shape ks = y.shape();
  ks.insert(ks.begin(), 1);
  std::vector<Tensor> grads = g.vjp(y, v.reshape(ks), vars);
  for (size_t j = 0; j < inputs.size(); ++j) {
    Tensor num = Tensor::zeros(inputs[j].shape(), DType::F64);
    for (int64_t i = 0; i < inputs[j].numel(); ++i) {
      double fx[2];
      for (int s = 0; s < 2; ++s) {
        std::vector<Tensor> xs;
        for (const Tensor& t : inputs) xs.push_back(t.clone());
        xs[j].data<double>()[i] += s == 0 ? h : -h;
        Graph gi(*be, false);
        std::vector<Var> vi;
        for (const Tensor& t : xs) vi.push_back(gi.input(t));
        fx[s] = dot(f(gi, vi).value, v);
      }
      num.data<double>()[i] = (fx[0] - fx[1]) / (2 * h);
    }
    EXPECT_CLOSE(grads[j].reshape(inputs[j].shape()), num, atol, rtol) << "input " << j;
  }
}

}  // namespace sv::test
