// Multi-output backward: the gradients of K = 16 outputs of a small ResNet with respect to
// its input, by one forward and one K-stacked backward (Graph::vjp), against 16 separate
// forward + backward passes with one cotangent each. Fast CPU backend, float32, eval-mode
// batchnorm, input (2, 3, 32, 32). The two are validated against each other first.
//   build/bench/sharedvis_bench --benchmark_filter=MultiOutput
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/factory.h"
#include "bench/bench_util.h"
#include "layers/ops.h"

namespace {
using sv::bench::randn;
using sv::Conv2dParams;
using sv::Graph;
using sv::Param;
using sv::Shape;
using sv::Tensor;
using sv::Var;

constexpr int64_t kK = 16;

Conv2dParams conv_params(int stride, int pad) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

// conv (no bias) + eval-mode batchnorm folded into a per-channel affine map
struct ConvBn {
  Param w;
  Tensor a, c;  // (O) scale and shift
  Conv2dParams p;
  ConvBn(int in, int out, int k, int stride, uint64_t seed)
      : w{"w", randn({out, in, k, k}, seed, std::sqrt(2.0 / (in * k * k))), {}},
        a(randn({out}, seed + 1, 0.1)),
        c(randn({out}, seed + 2, 0.1)),
        p(conv_params(stride, k / 2)) {
    for (int64_t i = 0; i < out; ++i) a.data<float>()[i] += 1.0f;
  }
  Var operator()(const Var& x) { return sv::batchnorm2d_eval(sv::conv2d(x, x.graph->param(w), Var{}, p), a, c); }
};

// torchvision's BasicBlock: conv-bn-relu-conv-bn, + identity or 1x1 conv-bn, relu
struct BasicBlock {
  ConvBn conv1, conv2;
  std::unique_ptr<ConvBn> down;
  BasicBlock(int in, int out, int stride, uint64_t seed)
      : conv1(in, out, 3, stride, seed), conv2(out, out, 3, 1, seed + 10) {
    if (stride != 1 || in != out) down = std::make_unique<ConvBn>(in, out, 1, stride, seed + 20);
  }
  Var operator()(const Var& x) {
    Var y = conv2(sv::relu(conv1(x)));
    return sv::relu(sv::add(y, down ? (*down)(x) : x));
  }
};

// stem 3->16, stages of 2 blocks at 16 (32x32), 32 (16x16), 64 (8x8), global pool, fc 64->10
struct SmallResNet {
  ConvBn stem{3, 16, 3, 1, 100};
  std::vector<std::unique_ptr<BasicBlock>> blocks;
  Param fc{"fc.weight", randn({10, 64}, 200, 0.125), {}}, fc_b{"fc.bias", randn({10}, 201, 0.1), {}};
  SmallResNet() {
    const int widths[] = {16, 32, 64};
    int in = 16;
    uint64_t seed = 1000;
    for (int s = 0; s < 3; ++s)
      for (int b = 0; b < 2; ++b) {
        blocks.push_back(std::make_unique<BasicBlock>(in, widths[s], s > 0 && b == 0 ? 2 : 1, seed += 100));
        in = widths[s];
      }
  }
  Var operator()(Graph& g, const Var& x) {
    Var h = sv::relu(stem(x));
    for (auto& b : blocks) h = (*b)(h);
    return sv::linear(sv::global_avgpool(h), g.param(fc), g.param(fc_b));
  }
};

struct Setup {
  explicit Setup(int threads) : be(sv::make_cpu_backend(false, threads)) {}
  std::unique_ptr<sv::Backend> be;
  SmallResNet net;
  Tensor x = randn({2, 3, 32, 32}, 1);
  Tensor cot = randn({kK, 2, 10}, 2);  // (K, N, classes)

  Tensor multi() {
    Graph g(*be);
    Var xv = g.input(x);
    return g.vjp(net(g, xv), cot, {xv})[0];  // (K, 2, 3, 32, 32)
  }
  Tensor separate() {
    Tensor out = Tensor::empty({kK, 2, 3, 32, 32});
    for (int64_t k = 0; k < kK; ++k) {
      Graph g(*be);
      Var xv = g.input(x);
      Tensor gk = g.vjp(net(g, xv), cot.slice0(k, k + 1), {xv})[0];
      std::copy_n(gk.data<float>(), gk.numel(), out.data<float>() + k * gk.numel());
    }
    return out;
  }
};

// max |a - b| / (atol + rtol |b|) over both tensors
// Argument: threads of the backend (0: all).
void BM_MultiOutput(benchmark::State& state, bool stacked) {
  Setup s(static_cast<int>(state.range(0)));
  const double err = sv::bench::mixed_error(s.multi(), s.separate(), 1e-6, 1e-3);
  if (err > 1.0) {
    state.SkipWithError(("K-stacked and separate gradients differ, mixed error " + std::to_string(err)).c_str());
    return;
  }
  for (auto _ : state) {
    Tensor g = stacked ? s.multi() : s.separate();
    benchmark::DoNotOptimize(g.raw());
  }
  state.counters["K"] = static_cast<double>(kK);
}

BENCHMARK_CAPTURE(BM_MultiOutput, K16_stacked_vjp, true)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MultiOutput, K16_separate_passes, false)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
