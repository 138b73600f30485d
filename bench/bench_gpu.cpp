// sharedvis_bench_gpu: resnet50 on the CUDA backend, validated first, then timed.
//
//   features  layer4 of resnet50 for B images at SxS (inference graph, no recording)
//   vjp       forward + multi-output vjp of the pooled features (avgpool, (N,2048,1,1))
//             for N images with K cotangents, gradients with respect to the images
//   ig        Integrated Gradients of the pooled layer4 features (apps/primitives.h) for
//             N images, K cotangents, S steps (Gauss-Legendre, zero baseline), at most
//             64 interpolation points per pass; host tensors in and out (transfers included)
//
// Validation (before any timing): layer4 features of one image at a small size against the
// CPU backend, and rows of the K-stacked vjp against single-cotangent vjps on the GPU.
// Timing: warm-up iterations first (they include cuDNN's per-shape algorithm search), then
// the median of timed iterations, each bracketed by a device synchronization. Peak memory
// is read from the backend's caching allocator over the timed iterations: in_use = blocks
// held by tensors and workspaces (comparable to torch.cuda.max_memory_allocated),
// reserved = obtained from cudaMalloc (comparable to torch.cuda.max_memory_reserved).
//
// Usage: sharedvis_bench_gpu [--batch 64] [--vjp-batch 2] [--k 64] [--size 224]
//                            [--ig-batch 8] [--ig-k 4] [--ig-steps 32]
//                            [--iters 10] [--warmup 3] [--json FILE] [--variants]
// --variants: features and vjp again on backends with one option changed each (the fused
// conv + bias + ReLU toggled; full float32; deterministic algorithms), in the same process.
// Weights: the resnet50 model file in SHAREDVIS_RESNET50 if set, else seeded random ones
// (timings do not depend on the values). CUDA options come from the environment
// (SHAREDVIS_CUDA_TF32, SHAREDVIS_CUDA_DETERMINISTIC, ...; see backends/cuda/cuda_backend.h).
// Build: see bench/gpu_check.sh.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/primitives.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/factory.h"
#include "tests/tensor_compare.h"
#include "weights/model.h"

namespace sv {
namespace {

struct Args {
  int batch = 64, vjp_batch = 2, k = 64, size = 224, iters = 10, warmup = 3;
  int ig_batch = 8, ig_k = 4, ig_steps = 32;
  std::string json;
  bool variants = false;
};

// The options of the usage line above; CLI11 checks their values and prints --help.
Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"sharedvis_bench_gpu: resnet50 on the CUDA backend, validated, then timed"};
  const auto positive = CLI::Range(1, 1 << 24);
  app.add_option("--batch", a.batch, "images of the features workload")->check(positive);
  app.add_option("--vjp-batch", a.vjp_batch, "images of the vjp workload")->check(positive);
  app.add_option("--k", a.k, "cotangents of the vjp workload")->check(positive);
  app.add_option("--size", a.size, "input height and width")->check(CLI::Range(32, 4096));
  app.add_option("--ig-batch", a.ig_batch, "images of the IG workload")->check(positive);
  app.add_option("--ig-k", a.ig_k, "cotangents of the IG workload")->check(positive);
  app.add_option("--ig-steps", a.ig_steps, "IG steps")->check(positive);
  app.add_option("--iters", a.iters, "timed iterations")->check(positive);
  app.add_option("--warmup", a.warmup, "untimed iterations first")->check(CLI::Range(0, 1 << 24));
  app.add_option("--json", a.json, "write the results here too");
  app.add_flag("--variants", a.variants, "also time backends with one option changed each");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success&) {
    std::printf("%s", app.help().c_str());
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    throw ValueError(e.what());
  }
  return a;
}

std::unique_ptr<Module> resnet50() {
  if (const char* path = std::getenv("SHAREDVIS_RESNET50"); path && *path) return load_model(path).net;
  auto net = build_arch("resnet50", 1000, 3);
  init_params(*net, 50);
  return net;
}

Tensor features(Backend& be, Module& net, const Tensor& x) {
  Graph g(be, /*record=*/false);
  Forward fw(g, "layer4");
  net.forward(g.input(x), fw);
  return fw.captured().value;
}

Tensor vjp(Backend& be, Module& net, const Tensor& x, const Tensor& cot) {
  Graph g(be);
  Forward fw(g, "avgpool");
  Var in = g.input(x, true);
  net.forward(in, fw);
  return g.vjp(fw.captured(), cot, {in})[0];
}

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  CudaMemoryStats mem;
};

Timing time_it(Backend& be, int warmup, int iters, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  be.synchronize();
  cuda_reset_peak_memory(be);
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    be.synchronize();
    auto t0 = std::chrono::steady_clock::now();
    f();
    be.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  Timing t;
  t.mem = cuda_memory_stats(be);
  std::sort(ms.begin(), ms.end());
  t.median_ms = ms[ms.size() / 2];
  t.min_ms = ms.front();
  t.max_ms = ms.back();
  return t;
}

double mib(size_t b) { return static_cast<double>(b) / (1 << 20); }

nlohmann::json to_json(const Timing& t) {
  return {{"median_ms", t.median_ms},          {"min_ms", t.min_ms},
          {"peak_in_use_mib", mib(t.mem.peak_in_use)}, {"peak_reserved_mib", mib(t.mem.peak_reserved)},
          {"workspace_mib", mib(t.mem.workspace)}};
}

int run(int argc, char** argv) {
  Args a = parse(argc, argv);
  SV_CHECK(cuda_device_count() > 0, DeviceError, "no CUDA device: " + cuda_unavailable_reason());
  CudaOptions opt = CudaOptions::from_env();
  auto gpu = make_cuda_backend(0, opt);
  std::printf("sharedvis GPU bench: %s, tf32 %d, deterministic %d, conv search %s, workspace limit %zu MiB\n",
              gpu->name().c_str(), opt.tf32, opt.deterministic, opt.find_algorithms ? "find" : "heuristic",
              opt.workspace_limit >> 20);

  Model model;
  model.info.arch = "resnet50";
  model.net = resnet50();
  Module& net = *model.net;
  // ---- validate: features on CPU vs GPU (one small image), before moving the weights
  const int vsize = 64;
  Tensor xv = test::randn({1, 3, vsize, vsize}, 1, DType::F32);
  auto cpu = make_cpu_backend(false);
  Tensor fc = features(*cpu, net, xv);
  net.to(*gpu);
  Tensor fg = gpu->download(features(*gpu, net, xv));
  const double e_feat = test::rel_l2_error(fg, fc);
  std::printf("validate features (1x3x%dx%d) vs cpu: relative error %.2e\n", vsize, vsize, e_feat);
  const double feat_tol = opt.tf32 ? 2e-2 : 1e-4;
  SV_CHECK(e_feat <= feat_tol, Error, "GPU features disagree with the CPU backend");

  // ---- validate: rows of the K-stacked vjp equal single-cotangent vjps
  Tensor xj = test::randn({a.vjp_batch, 3, a.size, a.size}, 2, DType::F32);
  Tensor cot = test::randn({a.k, a.vjp_batch, 2048, 1, 1}, 3, DType::F32);
  Tensor xj_d = gpu->upload(xj), cot_d = gpu->upload(cot);
  Tensor all = gpu->download(vjp(*gpu, net, xj_d, cot_d));
  double e_vjp = 0;
  for (int64_t k : {int64_t(0), int64_t(a.k - 1)}) {
    Tensor one = gpu->download(vjp(*gpu, net, xj_d, gpu->upload(cot.slice0(k, k + 1).clone())));
    e_vjp = std::max(e_vjp, test::rel_l2_error(all.slice0(k, k + 1), one));
  }
  std::printf("validate vjp (K=%d) rows vs single-cotangent vjps: relative error %.2e\n", a.k, e_vjp);
  SV_CHECK(e_vjp <= (opt.tf32 ? 2e-2 : 1e-4), Error, "K-stacked vjp disagrees with single-cotangent vjps");

  // ---- time, with the options given and with each variant's
  Tensor xf = gpu->upload(test::randn({a.batch, 3, a.size, a.size}, 4, DType::F32));
  const double gflop_img = 2 * 4.09 * (a.size * a.size) / (224.0 * 224.0);  // resnet50 to layer4, 2 x GMAC
  // Each configuration on a backend of its own, as a process that runs only that workload.
  auto time_model = [&](const CudaOptions& o, const std::string& label) {
    auto owned = make_cuda_backend(0, o);
    Backend& be = *owned;
    net.to(be);
    const Tensor x = be.upload(xf), xj_b = be.upload(xj_d), cot_b = be.upload(cot_d);
    Timing tf = time_it(be, a.warmup, a.iters, [&] { features(be, net, x); });
    std::printf(
        "%-16s features B=%-3d %dx%d: median %8.2f ms (min %.2f, max %.2f), %7.1f img/s, %5.1f TFLOP/s, "
        "peak in_use %7.1f MiB (workspace %6.1f), reserved %7.1f MiB\n",
        label.c_str(), a.batch, a.size, a.size, tf.median_ms, tf.min_ms, tf.max_ms, a.batch / tf.median_ms * 1e3,
        gflop_img * a.batch / tf.median_ms, mib(tf.mem.peak_in_use), mib(tf.mem.workspace),
        mib(tf.mem.peak_reserved));
    cuda_release_cached_memory(be);
    Timing tv = time_it(be, a.warmup, a.iters, [&] { vjp(be, net, xj_b, cot_b); });
    std::printf(
        "%-16s vjp N=%d K=%d %dx%d: median %8.2f ms (min %.2f, max %.2f), peak in_use %7.1f MiB (workspace %6.1f), "
        "reserved %7.1f MiB\n",
        label.c_str(), a.vjp_batch, a.k, a.size, a.size, tv.median_ms, tv.min_ms, tv.max_ms, mib(tv.mem.peak_in_use),
        mib(tv.mem.workspace), mib(tv.mem.peak_reserved));
    cuda_release_cached_memory(be);
    return std::make_pair(tf, tv);
  };
  const auto [tf, tv] = time_model(opt, "sharedvis");
  nlohmann::json variants = nlohmann::json::object();
  if (a.variants) {
    const std::pair<std::string, std::function<void(CudaOptions&)>> changes[] = {
        {opt.fused_conv ? "unfused-conv" : "fused-conv", [](CudaOptions& o) { o.fused_conv = !o.fused_conv; }},
        {"fp32", [](CudaOptions& o) { o.tf32 = false; }},
        {"deterministic", [](CudaOptions& o) { o.deterministic = true; }}};
    for (const auto& [label, change] : changes) {
      CudaOptions o = opt;
      change(o);
      const auto [vf, vv] = time_model(o, label);
      variants[label] = {{"features", to_json(vf)}, {"vjp", to_json(vv)}};
    }
  }
  net.to(*gpu);

  // IG: the primitive as the CLI and explain call it (host tensors in and out).
  Tensor xi = test::randn({a.ig_batch, 3, a.size, a.size}, 5, DType::F32);
  Tensor gi = test::randn({a.ig_k, a.ig_batch, 2048}, 6, DType::F32);
  Tensor zero = Tensor::zeros(xi.shape());
  auto ig = [&] {
    return integrated_gradients(model, *gpu, "layer4", Pool::Avg, xi, gi, zero, a.ig_steps, IgRule::GaussLegendre, 64);
  };
  // Sanity before timing: completeness, sum(S) = <G, phi(x) - phi(0)> up to quadrature error.
  const std::vector<double> gap =
      ig_completeness_gap(ig(), gi, sv::features(model, *gpu, "layer4", Pool::Avg, xi),
                          sv::features(model, *gpu, "layer4", Pool::Avg, zero));
  const double gap_max = *std::max_element(gap.begin(), gap.end());
  std::printf("validate ig completeness gap (max over %zu): %.2e\n", gap.size(), gap_max);
  Timing ti = time_it(*gpu, std::min(a.warmup, 1), std::max(3, a.iters / 2), [&] { ig(); });
  std::printf("sharedvis        ig N=%d K=%d steps=%d %dx%d: median %8.2f ms (min %.2f, max %.2f), peak in_use "
              "%7.1f MiB, reserved %7.1f MiB\n",
              a.ig_batch, a.ig_k, a.ig_steps, a.size, a.size, ti.median_ms, ti.min_ms, ti.max_ms,
              mib(ti.mem.peak_in_use), mib(ti.mem.peak_reserved));

  if (!a.json.empty()) {
    const nlohmann::json j = {{"backend", gpu->name()},
                              {"tf32", opt.tf32 ? 1 : 0},
                              {"fused_conv", opt.fused_conv ? 1 : 0},
                              {"batch", a.batch},
                              {"vjp_batch", a.vjp_batch},
                              {"k", a.k},
                              {"size", a.size},
                              {"validate", {{"features_rel_err", e_feat}, {"vjp_rel_err", e_vjp}}},
                              {"features", to_json(tf)},
                              {"vjp", to_json(tv)},
                              {"variants", variants},
                              {"ig_batch", a.ig_batch},
                              {"ig_k", a.ig_k},
                              {"ig_steps", a.ig_steps},
                              {"ig_gap_max", gap_max},
                              {"ig", to_json(ti)}};
    std::ofstream f(a.json);
    f << j.dump(1) << "\n";
    SV_CHECK(f.good(), IoError, "cannot write " + a.json);
  }
  return 0;
}

}  // namespace
}  // namespace sv

int main(int argc, char** argv) {
  try {
    return sv::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sharedvis_bench_gpu: %s\n", e.what());
    return 1;
  }
}
