// ResNet-50 at 224x224 in one process (warm: weights loaded, caches filled, after the first
// iteration), the two workloads of bench/compare_torch.py on the fast CPU backend:
//   ResNet50/Features   layer4 features of 8 images (inference graph), avg pooled
//   ResNet50/Vjp        one image, forward + multi-output vjp of the pooled layer4
//                       features with K = 16 cotangents, gradients w.r.t. the image
// compare_torch.py times PyTorch warm too (best of its repeats in one process), so these
// are the like-for-like numbers; its sharedvis column is a fresh CLI process per run.
// Weights: the portable random init (timings do not depend on the values).
//   build/bench/sharedvis_bench --benchmark_filter=ResNet50 --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include "apps/primitives.h"
#include "backends/factory.h"
#include "bench/bench_util.h"
#include "weights/model.h"

namespace {
using namespace sv;

Model resnet50() {
  ModelInfo info;
  info.arch = "resnet50";
  info.num_classes = 1000;
  Model m = make_model(info);
  init_portable(*m.net, 1);
  return m;
}

void BM_ResNet50Features(benchmark::State& state) {
  auto be = make_cpu_backend();
  Model m = resnet50();
  model_to(m, *be);
  const Tensor x = bench::randn({8, 3, 224, 224}, 2);
  for (auto _ : state) benchmark::DoNotOptimize(features(m, *be, "layer4", Pool::Avg, x, 64));
  state.counters["img/s"] = benchmark::Counter(8.0 * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ResNet50Features)->Name("ResNet50/Features/N:8")->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ResNet50Vjp(benchmark::State& state) {
  auto be = make_cpu_backend();
  Model m = resnet50();
  model_to(m, *be);
  const Tensor x = bench::randn({1, 3, 224, 224}, 3), G = bench::randn({16, 1, 2048}, 4);
  for (auto _ : state) benchmark::DoNotOptimize(vjp(m, *be, "layer4", Pool::Avg, x, G, 16));
}
BENCHMARK(BM_ResNet50Vjp)->Name("ResNet50/Vjp/K:16")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
