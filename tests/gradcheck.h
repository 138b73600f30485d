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
#include "tests/tensor_compare.h"
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
  throw DeviceError("this build has no CUDA backend");  // tests call it after SKIP_WITHOUT_GPU
#endif
}

#define EXPECT_CLOSE(a, b, atol, rtol) EXPECT_LE(::sv::test::mixed_error((a), (b), (atol), (rtol)), 1.0)

using GraphFn = std::function<Var(Graph&, const std::vector<Var>&)>;

// Checks the graph's vjp with K cotangents v_k, d<v_k, f(x)>/dx_j, against central
// differences for every element of every input (float64, on `be`): each perturbed f(x +- h)
// serves all K rows. Returns the largest mixed error (<= 1 passes; EXPECTed here too).
inline double gradcheck_on(Backend& be, const GraphFn& f, const std::vector<Tensor>& inputs, int64_t K = 1,
                           double h = 1e-6, double atol = 1e-7, double rtol = 1e-5, uint64_t seed = 7) {
  Graph g(be);
  std::vector<Var> vars;
  for (const Tensor& t : inputs) vars.push_back(g.input(be.upload(t.clone()), true));
  Var y = f(g, vars);
  Shape ks = y.shape();
  ks.insert(ks.begin(), K);
  const Tensor v = randn(ks, seed);  // (K, *y.shape); for K = 1 the values of randn(y.shape, seed)
  std::vector<Tensor> grads = g.vjp(y, be.upload(v.clone()), vars);
  double worst = 0;
  for (size_t j = 0; j < inputs.size(); ++j) {
    const int64_t n = inputs[j].numel();
    Tensor num = Tensor::zeros({K, n}, DType::F64);
    for (int64_t i = 0; i < n; ++i) {
      Tensor fx[2];
      for (int s = 0; s < 2; ++s) {
        std::vector<Tensor> xs;
        for (const Tensor& t : inputs) xs.push_back(t.clone());
        xs[j].data<double>()[i] += s == 0 ? h : -h;
        Graph gi(be, false);
        std::vector<Var> vi;
        for (const Tensor& t : xs) vi.push_back(gi.input(be.upload(t)));
        fx[s] = be.download(f(gi, vi).value);
      }
      for (int64_t k = 0; k < K; ++k) {
        const Tensor vk = v.slice0(k, k + 1);
        num.data<double>()[k * n + i] = (dot(fx[0], vk) - dot(fx[1], vk)) / (2 * h);
      }
    }
    const Tensor got = be.download(grads[j]).reshape({K, n});
    const double e = mixed_error(got, num, atol, rtol);
    EXPECT_LE(e, 1.0) << "input " << j << " on " << be.name();
    worst = std::max(worst, e);
  }
  return worst;
}

// gradcheck_on the CPU reference backend (reference) or the fast one, one cotangent.
inline void gradcheck(const GraphFn& f, const std::vector<Tensor>& inputs, double h = 1e-6, double atol = 1e-7,
                      double rtol = 1e-5, uint64_t seed = 7, bool reference = true) {
  auto be = make_cpu_backend(reference);
  gradcheck_on(*be, f, inputs, 1, h, atol, rtol, seed);
}

}  // namespace sv::test
