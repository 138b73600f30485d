// Batch invariance of the fast CPU backend: an image's features, its input gradients (one
// cotangent or K-stacked) and every number and map of an explain run are bitwise the same
// whatever other images share its batch, how many images (or cotangents) go into one pass
// (1, 3, 64) and on how many threads the backend runs (1, 2, and 2 with every threshold at 1
// so that each kernel splits its work). Compared with memcmp, not a tolerance.
//
// The inputs have exact ties: piecewise-constant images (flat 4x4 blocks of a few values),
// so max-pool windows hold equal values and a last-bit difference in a convolution changes
// which input a window picks, and with it the whole gradient path. Models: the bundled
// Fashion-MNIST CNN (batchnorm folded into its convs, max pool, two dense layers) and
// resnet18 with the portable weights of tests/fixtures/resnet18.safetensors (seed 4; batchnorm,
// residual adds, max pool, the dense fc) at 32x32.
//
// CudaBatchInvariance: the same features and vjp comparisons on the CUDA backend in its
// deterministic mode (backends/cuda/fixed_chunks.h), bitwise against the GPU's own pass of
// all images, made by another backend instance (fresh cuDNN plans); and the GPU's features
// near the CPU reference's, so that a broken backend cannot pass by being consistently
// wrong. Skipped, saying why, without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/explain.h"
#include "tests/output_compare.h"
#include "apps/primitives.h"
#include "backends/cpu/cpu_backend.h"
#include "tests/gradcheck.h"
#include "weights/model.h"
#ifdef SHAREDVIS_HAVE_CUDA
#include "backends/cuda/fixed_chunks.h"
#endif

namespace sv {
namespace {

namespace fs = std::filesystem;

// Piecewise-constant images (N, C, S, S): 4x4 blocks, each one of 5 values, and one
// image repeated, so that ties are exact within and across images.
Tensor tied_images(int64_t N, int64_t C, int64_t S, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const float levels[5] = {-1.5f, -0.25f, 0.0f, 0.75f, 2.0f};
  std::uniform_int_distribution<int> pick(0, 4);
  Tensor x = Tensor::empty({N, C, S, S}, DType::F32);
  float* p = x.data<float>();
  const int64_t B = (S + 3) / 4;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      std::vector<float> block(static_cast<size_t>(B * B));
      for (float& v : block) v = levels[pick(rng)];
      for (int64_t h = 0; h < S; ++h)
        for (int64_t w = 0; w < S; ++w) p[((n * C + c) * S + h) * S + w] = block[static_cast<size_t>(h / 4 * B + w / 4)];
    }
  const int64_t img = C * S * S;
  std::memcpy(p + (N - 1) * img, p + 5 * img, img * sizeof(float));  // the last image repeats image 5
  return x;
}

Tensor randn(const Shape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Tensor t = Tensor::empty(s, DType::F64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = nd(rng);
  return t;
}

// Rows [n0, n1) of dimension 1 of G (K, N, D), as a contiguous (K, n1 - n0, D).
Tensor cotangent_rows(const Tensor& G, int64_t n0, int64_t n1) {
  const int64_t K = G.dim(0), N = G.dim(1), D = G.dim(2);
  Tensor out = Tensor::empty({K, n1 - n0, D}, G.dtype());
  for (int64_t k = 0; k < K; ++k)
    std::memcpy(out.data<double>() + k * (n1 - n0) * D, G.data<double>() + (k * N + n0) * D,
                (n1 - n0) * D * sizeof(double));
  return out;
}

// The first element where a and b differ bitwise, or "" when they are identical.
std::string bitwise_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return "shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape());
  if (std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0) return "";
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(static_cast<const char*>(a.raw()) + i * dtype_size(a.dtype()),
                    static_cast<const char*>(b.raw()) + i * dtype_size(a.dtype()), dtype_size(a.dtype())) != 0) {
      std::ostringstream s;
      s.precision(9);
      s << "element " << i << ": " << a.item(i) << " vs " << b.item(i);
      return s.str();
    }
  return "";
}

// A backend to compare, made afresh for each comparison.
struct Config {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
};
Config cpu_config(const std::string& name, const fast::Parallel& par) {
  return {name, [par] { return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(par)); }};
}
// The reference: the fast CPU backend on one thread.
Config cpu_reference() {
  return {"1 thread", [] { return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(1)); }};
}
// The CPU backends compared: 1 thread, 2 threads, and 2 threads that split every kernel.
std::vector<Config> cpu_configs() {
  return {cpu_config("1 thread", {1, 0, 0, nullptr}), cpu_config("2 threads", {2, 0, 0, nullptr}),
          cpu_config("2 threads, every kernel split", {2, 1, 1, nullptr})};
}
// The CUDA backend in deterministic mode (tests/gradcheck.h). Call only where cuda_available().
Config gpu_config() {
  return {"cuda deterministic", [] { return test::make_test_gpu(); }};
}

struct Case {
  std::string layer;
  Pool pool;
};

// The reference: features and the vjp of K = 3 cotangents of all N images in one pass on
// the reference backend. Then, for every backend and batch size b in {64, 3, 1}: features in
// batches of b, and the vjp for the images in groups of b with the cotangents in passes of
// 1 or all 3. Each must equal the reference bitwise. `probe` limits the groups of b < 64 to
// those that hold one of the first or last `probe` images (0: all), to bound the test's time
// on larger models. Returns the reference features of each case.
std::vector<Tensor> expect_batch_invariant(Model& m, const Tensor& x, const std::vector<Case>& cases, const Config& ref,
                                           const std::vector<Config>& configs, int64_t probe = 0) {
  const int64_t N = x.dim(0), img = x.numel() / N;
  std::vector<Tensor> ref_features;
  for (const Case& c : cases) {
    SCOPED_TRACE("layer " + c.layer + ", reference " + ref.name);
    const std::unique_ptr<Backend> ref_be = ref.make();
    const Tensor ref_phi = features(m, *ref_be, c.layer, c.pool, x, N);
    const Tensor G = randn({3, N, ref_phi.dim(1)}, 7);
    const Tensor ref_S = vjp(m, *ref_be, c.layer, c.pool, x, G, 3);
    EXPECT_GT(test::max_abs(ref_S), 0.0) << "the reference vjp is zero";
    ref_features.push_back(ref_phi);
    for (const Config& cfg : configs) {
      const std::unique_ptr<Backend> made = cfg.make();
      Backend& be = *made;
      for (int64_t b : {64, 3, 1}) {
        SCOPED_TRACE(cfg.name + ", batch " + std::to_string(b));
        EXPECT_EQ(bitwise_diff(features(m, be, c.layer, c.pool, x, b), ref_phi), "") << "features";
        for (int64_t max_k : {1, 3})
          for (int64_t n0 = 0; n0 < N; n0 += b) {
            const int64_t n1 = std::min(N, n0 + b);
            if (probe > 0 && b < 64 && n0 >= probe && n1 <= N - probe) continue;
            const Tensor s = vjp(m, be, c.layer, c.pool, x.slice0(n0, n1), cotangent_rows(G, n0, n1), max_k);
            for (int64_t k = 0; k < 3; ++k) {
              const Tensor got = s.slice0(k, k + 1).reshape({(n1 - n0) * img});
              const Tensor want = ref_S.slice0(k, k + 1).reshape({N * img}).slice0(n0 * img, n1 * img);
              EXPECT_EQ(bitwise_diff(got, want), "")
                  << "vjp of images " << n0 << ".." << n1 - 1 << ", cotangent " << k << ", " << max_k << " per pass";
            }
          }
      }
    }
  }
  return ref_features;
}

const std::vector<Case> kFashionCases = {
    {"features", Pool::Avg}, {"features.7", Pool::Max}, {"classifier.4", Pool::None}};

// resnet18 as in tests/fixtures/resnet18.safetensors (its __metadata__), portable weights.
Model small_resnet18() {
  ModelInfo info;
  info.arch = "resnet18";
  info.num_classes = 10;
  info.input_size = info.resize_size = 32;
  Model m = make_model(info);
  init_portable(*m.net, 4);
  return m;
}

TEST(BatchInvariance, FashionMnistCnnFeaturesAndVjp) {
  Model m = load_model(std::string(SHAREDVIS_SOURCE_DIR) + "/weights/fmnist_cnn.safetensors");
  const Tensor x = tied_images(67, 1, 28, 11);  // 67 = 64 + 3: a full pass of 64 and a short one
  expect_batch_invariant(m, x, kFashionCases, cpu_reference(), cpu_configs());
}

TEST(BatchInvariance, ResNet18FeaturesAndVjp) {
  Model m = small_resnet18();
  const Tensor x = tied_images(67, 3, 32, 12);
  expect_batch_invariant(m, x, {{"fc", Pool::None}}, cpu_reference(), cpu_configs(), /*probe=*/3);
}

// Convolutions with a 7x7 output, as in ResNet-50's layer4, whose forward GEMMs group up
// to 8 images as 49 pixel rows each (backends/cpu/fast_conv.cpp, "Pixel rows"), in calls
// of as many images as a batch's chunk or a thread's share holds: each
// image's output, and its data gradient, bitwise the same in batches of 64, 3 and 1 of
// 67 images (the last batch short: 67 = 64 + 3), on 1 and 2 threads, with and without
// Winograd (without, the 3x3 stride-1 conv takes the same im2col path). Inputs with
// exact ties, weights in float32. The channel counts put one image's forward GEMM above
// the size from which pixel rows are used (4M multiply-adds).
struct ConvCase {
  std::string name;
  int64_t C, S, O, k;
  Conv2dParams p;
};

TEST(BatchInvariance, SevenBySevenConvs) {
  const std::vector<ConvCase> cases = {
      {"3x3 stride 2, 14x14 -> 7x7", 128, 14, 128, 3, {2, 2, 1, 1, 1, 1, 1}},
      {"1x1 stride 2, 14x14 -> 7x7", 512, 14, 192, 1, {2, 2, 0, 0, 1, 1, 1}},
      {"1x1 at 7x7", 384, 7, 256, 1, {1, 1, 0, 0, 1, 1, 1}},
      {"3x3 stride 1 at 7x7", 96, 7, 128, 3, {1, 1, 1, 1, 1, 1, 1}},
  };
  const int64_t N = 67;
  for (const bool winograd : {true, false}) {
    auto config = [winograd](const std::string& name, fast::Parallel par) {
      par.winograd = winograd;
      return cpu_config(name + (winograd ? "" : ", no Winograd"), par);
    };
    const Config ref = config("1 thread", {1, 0, 0, nullptr});
    const std::vector<Config> configs = {config("1 thread", {1, 0, 0, nullptr}),
                                         config("2 threads", {2, 0, 0, nullptr}),
                                         config("2 threads, every kernel split", {2, 1, 1, nullptr})};
    for (const ConvCase& c : cases) {
      SCOPED_TRACE(c.name + (winograd ? "" : ", no Winograd"));
      const Tensor x = tied_images(N, c.C, c.S, 21);
      const Tensor w = randn({c.O, c.C, c.k, c.k}, 22).to(DType::F32), b = randn({c.O}, 23).to(DType::F32);
      const std::unique_ptr<Backend> ref_be = ref.make();
      const Tensor y = ref_be->conv2d_relu_forward(x, w, b, c.p);
      ASSERT_EQ(y.dim(2), 7);
      ASSERT_EQ(y.dim(3), 7);
      const Tensor gy = randn(y.shape(), 24).to(DType::F32);
      const Tensor gx = ref_be->conv2d_backward_data(gy, w, x.shape(), c.p, 1);
      const int64_t yi = y.numel() / N, xi = x.numel() / N;
      for (const Config& cfg : configs) {
        const std::unique_ptr<Backend> be = cfg.make();
        for (int64_t bs : {64, 3, 1})
          for (int64_t n0 = 0; n0 < N; n0 += bs) {
            SCOPED_TRACE(cfg.name + ", batch " + std::to_string(bs) + " from image " + std::to_string(n0));
            const int64_t n1 = std::min(N, n0 + bs);
            const Tensor got = be->conv2d_relu_forward(x.slice0(n0, n1), w, b, c.p);
            EXPECT_EQ(bitwise_diff(got.reshape({(n1 - n0) * yi}), y.reshape({N * yi}).slice0(n0 * yi, n1 * yi)), "")
                << "forward";
            Shape xs = x.shape();
            xs[0] = n1 - n0;
            const Tensor gxb = be->conv2d_backward_data(gy.slice0(n0, n1), w, xs, c.p, 1);
            EXPECT_EQ(bitwise_diff(gxb.reshape({(n1 - n0) * xi}), gx.reshape({N * xi}).slice0(n0 * xi, n1 * xi)), "")
                << "data gradient";
          }
      }
    }
  }
}

// The GPU's features (one pass of all images) near the CPU reference's: max |diff| within
// 1e-3 of max |cpu| (float32 in another order; ties in max pooling pick values that are
// equal up to such differences).
void expect_near_cpu(Model& m, const Tensor& x, const std::vector<Case>& cases, const std::vector<Tensor>& gpu_phi) {
  CpuBackend cpu(1);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Tensor cpu_phi = features(m, cpu, cases[i].layer, cases[i].pool, x, x.dim(0));
    EXPECT_LE(test::normalized_error(gpu_phi[i], cpu_phi), 1e-3) << "GPU features of " << cases[i].layer;
  }
}

#ifdef SHAREDVIS_HAVE_CUDA
// Deterministic mode's images per cuDNN call (no GPU needed): set by one image's input and
// output sizes, the largest power of two <= 64 with at most 2^22 floats on either side.
TEST(CudaBatchInvariance, ImagesPerCallFollowOneImage) {
  EXPECT_EQ(cuda::invariant_images_per_call(1 * 28 * 28, 32 * 28 * 28), 64);  // fmnist_cnn features.0
  EXPECT_EQ(cuda::invariant_images_per_call(3 * 224 * 224, 64 * 112 * 112), 4);  // resnet50 stem
  EXPECT_EQ(cuda::invariant_images_per_call(256 * 56 * 56, 64 * 56 * 56), 4);  // resnet50 layer1 1x1
  EXPECT_EQ(cuda::invariant_images_per_call(512 * 28 * 28, 128 * 28 * 28), 8);  // 401408 floats: 8, not 16
  EXPECT_EQ(cuda::invariant_images_per_call(int64_t(1) << 22, 1), 1);  // exactly the bound
  EXPECT_EQ(cuda::invariant_images_per_call(int64_t(1) << 23, 1), 1);  // over it: still one image
  EXPECT_EQ(cuda::invariant_images_per_call(0, 0), 64);
}
#endif

TEST(CudaBatchInvariance, FashionMnistCnnFeaturesAndVjp) {
  if (!cuda_available()) GTEST_SKIP() << test::no_cuda_reason();
  Model m = load_model(std::string(SHAREDVIS_SOURCE_DIR) + "/weights/fmnist_cnn.safetensors");
  const Tensor x = tied_images(67, 1, 28, 11);
  const std::vector<Tensor> phi = expect_batch_invariant(m, x, kFashionCases, gpu_config(), {gpu_config()});
  expect_near_cpu(m, x, kFashionCases, phi);
}

TEST(CudaBatchInvariance, ResNet18FeaturesAndVjp) {
  if (!cuda_available()) GTEST_SKIP() << test::no_cuda_reason();
  Model m = small_resnet18();
  const Tensor x = tied_images(67, 3, 32, 12);
  const std::vector<Case> cases = {{"fc", Pool::None}, {"layer2", Pool::Max}};
  const std::vector<Tensor> phi = expect_batch_invariant(m, x, cases, gpu_config(), {gpu_config()}, /*probe=*/3);
  expect_near_cpu(m, x, cases, phi);
}

// results.json without what may differ: timings, the batch and thread choices themselves, and
// the count of forward passes they led to; the other files byte for byte.
void expect_same_output(const fs::path& a, const fs::path& b) {
  const auto results = [](const fs::path& d) {
    return testing::comparable_results(d, {"/inputs/backprop/forward_batches", "/choices/max_batch",
                                           "/choices/feature_batch", "/choices/threads"});
  };
  EXPECT_EQ(testing::json_diff(results(a), results(b)), "") << "results.json";
  EXPECT_GT(testing::expect_same_files(a, b), 4);
}

TEST(BatchInvariance, ExplainMapsAndNumbers) {
  const fs::path data = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(data / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed at " << data;
  const fs::path root = fs::temp_directory_path() / ("sv_batchinv_" + std::to_string(::getpid()));
  fs::create_directories(root);
  struct Run {
    int64_t max_batch, feature_batch;
    int threads;
  };
  const std::vector<Run> runs = {{64, 256, 2}, {1, 1, 1}, {3, 3, 2}, {64, 64, 1}};
  std::vector<fs::path> outs;
  for (const Run& r : runs) {
    ExplainOptions o;
    o.dataset = "fashion-mnist";
    o.limit = 200;  // the test set's flat black backgrounds tie in every max-pool window
    o.synthetic = {"Bag", "Sandal"};
    o.top_ooc = 2;
    o.device = "cpu";
    o.threads = r.threads;
    o.max_batch = r.max_batch;
    o.feature_batch = r.feature_batch;
    o.progress = false;
    o.out = (root / ("out_" + std::to_string(outs.size()))).string();
    run_explain(o);
    outs.push_back(o.out);
  }
  for (size_t i = 1; i < outs.size(); ++i) {
    SCOPED_TRACE("max-batch " + std::to_string(runs[i].max_batch) + ", feature-batch " +
                 std::to_string(runs[i].feature_batch) + ", threads " + std::to_string(runs[i].threads));
    expect_same_output(outs[0], outs[i]);
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace sv
