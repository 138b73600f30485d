// conv2d on the fast CPU backend over ResNet-50's convolution shapes at batch 8, forward and
// backward-data, reported in GFLOP/s next to a square SGEMM of the same run (the machine's
// GEMM ceiling). Each shape is first validated against the reference backend on a small
// slice (one image, at most 16 output channels); a mismatch fails the benchmark.
// Counters: GFLOP/s over wall-clock time; GFLOP per CPU-second of the whole process (all
// threads); and, for the convolutions, the GFLOP/s of a 1024 SGEMM run just before each
// timed call (sgemm_GFLOP/s) and the ratio of the two (of_sgemm), which stay comparable
// when other processes share the cores.
// ConvAlgo/<shape>/batch:B/{winograd,im2col}: ResNet-50's stride-1 3x3 convolutions at
// batch 8 and 16, forward, through the Winograd F(2x2, 3x3) path and through im2col (the
// backend with Parallel::winograd off); GFLOP/s counts the direct convolution's FLOPs for
// both. The stride-1 data gradient runs as a forward convolution, so it takes the same path.
//   build/bench/sharedvis_bench --benchmark_filter='Sgemm|Conv'
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "backends/factory.h"
#include "bench/bench_util.h"
#include "autodiff/backend.h"
#include "backends/cpu/cpu_backend.h"

namespace {
using sv::bench::randn;
using sv::bench::mixed_error;
using sv::Conv2dParams;
using sv::Shape;
using sv::Tensor;

constexpr int64_t kBatch = 8;

// CPU time of the whole process (every thread), in seconds.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Sets the two rate counters for `flops` per iteration.
void set_rates(benchmark::State& state, double flops, double cpu_seconds) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/cpu_s"] = flops * 1e-9 * static_cast<double>(state.iterations()) / cpu_seconds;
}

// max |a - b| / (atol + rtol |b|)
// One convolution of ResNet-50 (torchvision v1.5: the stride sits in the 3x3).
struct ConvShape {
  const char* name;
  int64_t C, O, H, k, stride;
};
constexpr ConvShape kResNet50[] = {
    {"stem_7x7_3_64_s2", 3, 64, 224, 7, 2},
    {"l1_1x1_64_64", 64, 64, 56, 1, 1},
    {"l1_3x3_64_64", 64, 64, 56, 3, 1},
    {"l1_1x1_64_256", 64, 256, 56, 1, 1},
    {"l1_1x1_256_64", 256, 64, 56, 1, 1},
    {"l2_1x1_256_128", 256, 128, 56, 1, 1},
    {"l2_3x3_128_128_s2", 128, 128, 56, 3, 2},
    {"l2_3x3_128_128", 128, 128, 28, 3, 1},
    {"l2_1x1_128_512", 128, 512, 28, 1, 1},
    {"l2_1x1_512_128", 512, 128, 28, 1, 1},
    {"l2_down_1x1_256_512_s2", 256, 512, 56, 1, 2},
    {"l3_1x1_512_256", 512, 256, 28, 1, 1},
    {"l3_3x3_256_256_s2", 256, 256, 28, 3, 2},
    {"l3_3x3_256_256", 256, 256, 14, 3, 1},
    {"l3_1x1_256_1024", 256, 1024, 14, 1, 1},
    {"l3_1x1_1024_256", 1024, 256, 14, 1, 1},
    {"l3_down_1x1_512_1024_s2", 512, 1024, 28, 1, 2},
    {"l4_1x1_1024_512", 1024, 512, 14, 1, 1},
    {"l4_3x3_512_512_s2", 512, 512, 14, 3, 2},
    {"l4_3x3_512_512", 512, 512, 7, 3, 1},
    {"l4_1x1_512_2048", 512, 2048, 7, 1, 1},
    {"l4_1x1_2048_512", 2048, 512, 7, 1, 1},
    {"l4_down_1x1_1024_2048_s2", 1024, 2048, 14, 1, 2},
};

struct ConvCase {
  Shape x, w, y;
  Conv2dParams p;
  double flops;  // 2 * multiply-adds of the whole batch
};
ConvCase make_case(const ConvShape& s, int64_t batch = kBatch) {
  ConvCase c;
  c.p.stride_h = c.p.stride_w = static_cast<int>(s.stride);
  c.p.pad_h = c.p.pad_w = static_cast<int>(s.k / 2);
  c.x = {batch, s.C, s.H, s.H};
  c.w = {s.O, s.C, s.k, s.k};
  c.y = sv::conv2d_out_shape(c.x, c.w, c.p);
  c.flops = 2.0 * static_cast<double>(sv::shape_numel(c.y)) * static_cast<double>(s.C * s.k * s.k);
  return c;
}

// Fast vs reference on image 0 and the first (at most max_o) output channels; true if close.
bool validate(sv::Backend& fast, const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& gy, bool data,
              std::string& why, int64_t max_o = 16) {
  auto ref = sv::make_cpu_backend(true);
  const int64_t o = std::min<int64_t>(max_o, c.w[0]);
  const Tensor ws = w.slice0(0, o).clone();
  double err;
  if (!data) {
    const Tensor xs = x.slice0(0, 1).clone();
    err =
        mixed_error(fast.conv2d_forward(xs, ws, Tensor(), c.p), ref->conv2d_forward(xs, ws, Tensor(), c.p), 1e-4, 1e-4);
  } else {
    Tensor gs = Tensor::empty({1, o, c.y[2], c.y[3]});
    std::copy_n(gy.data<float>(), gs.numel(), gs.data<float>());
    const Shape xs{1, c.x[1], c.x[2], c.x[3]};
    err =
        mixed_error(fast.conv2d_backward_data(gs, ws, xs, c.p, 1), ref->conv2d_backward_data(gs, ws, xs, c.p, 1), 1e-4, 1e-4);
  }
  why = "fast vs reference mixed error " + std::to_string(err);
  return err <= 1.0;
}

void sgemm(int n, const Tensor& a, const Tensor& b, Tensor& c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n, 0.0f,
              c.data<float>(), n);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Argument: threads (the machine's cores, or 1 for the per-core efficiency). Before each
// timed convolution an untimed SGEMM (n = kRefN, same threads) runs, so that of_sgemm
// compares the two over the same seconds even when other processes come and go.
// The convolution runs on the fast backend; `winograd` off forces im2col for every shape.
// max_o: output channels of the validation slice (from 16 on, the slice takes the Winograd path too).
void run_conv(benchmark::State& state, ConvShape s, bool data, int64_t batch, bool winograd, int64_t max_o) {
  constexpr int kRefN = 1024;
  const int threads = static_cast<int>(state.range(0));
  const ConvCase c = make_case(s, batch);
  sv::fast::Parallel par{threads};
  par.winograd = winograd;
  auto fast = std::make_unique<sv::CpuBackend>(par);
  const Tensor x = randn(c.x, 1), w = randn(c.w, 2), gy = randn(c.y, 3);
  std::string why;
  if (!validate(*fast, c, x, w, gy, data, why, max_o)) {
    state.SkipWithError(why.c_str());
    return;
  }
  const Tensor a = randn({kRefN, kRefN}, 4), b = randn({kRefN, kRefN}, 5);
  Tensor cm = Tensor::empty({kRefN, kRefN});
  double conv_wall = 0, conv_cpu = 0, sgemm_wall = 0;
  for (auto _ : state) {
    state.PauseTiming();
    openblas_set_num_threads(threads);
    auto t0 = std::chrono::steady_clock::now();
    sgemm(kRefN, a, b, cm);
    sgemm_wall += seconds_since(t0);
    state.ResumeTiming();
    const double cpu0 = process_cpu_seconds();
    t0 = std::chrono::steady_clock::now();
    Tensor out = data ? fast->conv2d_backward_data(gy, w, c.x, c.p, 1) : fast->conv2d_forward(x, w, Tensor(), c.p);
    benchmark::DoNotOptimize(out.raw());
    conv_wall += seconds_since(t0);
    conv_cpu += process_cpu_seconds() - cpu0;
  }
  const double iters = static_cast<double>(state.iterations());
  const double sgemm_rate = 2.0 * kRefN * kRefN * kRefN * iters / sgemm_wall * 1e-9;
  set_rates(state, c.flops, conv_cpu);
  state.counters["sgemm_GFLOP/s"] = sgemm_rate;
  state.counters["of_sgemm"] = c.flops * iters / conv_wall * 1e-9 / sgemm_rate;
}

void BM_Conv(benchmark::State& state, ConvShape s, bool data) { run_conv(state, s, data, kBatch, true, 16); }

// Forward of a stride-1 3x3 shape at a batch, Winograd or im2col.
void BM_ConvAlgo(benchmark::State& state, ConvShape s, int64_t batch, bool winograd) {
  run_conv(state, s, false, batch, winograd, 32);
}

// Square SGEMM with OpenBLAS: the ceiling the convolutions are measured against.
// Arguments: n, threads.
void BM_Sgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  openblas_set_num_threads(static_cast<int>(state.range(1)));
  const Tensor a = randn({n, n}, 4), b = randn({n, n}, 5);
  Tensor c = Tensor::empty({n, n});
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    sgemm(n, a, b, c);
    benchmark::DoNotOptimize(c.raw());
  }
  set_rates(state, 2.0 * n * n * n, process_cpu_seconds() - cpu0);
}

int cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// Square SGEMMs first and once more at the end (the ceiling drifts when the machine is
// shared), the convolutions in between, each on all cores and on one.
int register_all() {
  auto sgemm = [](std::initializer_list<int64_t> sizes) {
    for (int64_t n : sizes)
      for (int t : {cores(), 1})
        benchmark::RegisterBenchmark("Sgemm", BM_Sgemm)
            ->Args({n, t})
            ->ArgNames({"n", "threads"})
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
  };
  sgemm({1024, 1536, 2048});
  for (const ConvShape& s : kResNet50)
    for (bool data : {false, true})
      benchmark::RegisterBenchmark((std::string(data ? "ConvBackwardData/" : "ConvForward/") + s.name).c_str(), BM_Conv,
                                   s, data)
          ->Arg(cores())
          ->Arg(1)
          ->ArgName("threads")
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  for (const ConvShape& s : kResNet50) {
    if (s.k != 3 || s.stride != 1) continue;
    for (int64_t batch : {8, 16})
      for (bool winograd : {true, false})
        benchmark::RegisterBenchmark((std::string("ConvAlgo/") + s.name + "/batch:" + std::to_string(batch) +
                                      (winograd ? "/winograd" : "/im2col"))
                                         .c_str(),
                                     BM_ConvAlgo, s, batch, winograd)
            ->Arg(cores())
            ->Arg(1)
            ->ArgName("threads")
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
  }
  sgemm({1536});
  return 0;
}
const int registered = register_all();

}  // namespace
