// CudaOps: what the CUDA backend does beyond the op table of tests/test_backend_ops.cpp
// (which compares every Backend op on CUDA with the CPU reference): memory round trips,
// the caching allocator, plans reused with the same bits, the shipped TF32 defaults and
// cuDNN's heuristics, views off a 16-byte boundary, the checked-call macro and the options
// from the environment. Without a CUDA device the device tests are skipped, saying why.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "backends/factory.h"
#include "tests/gradcheck.h"
#ifdef SHAREDVIS_HAVE_CUDA
#include "backends/cuda/check.h"
#include "backends/cuda/cuda_backend.h"
#endif

namespace sv::test {
namespace {

Tensor randf(const Shape& s, uint64_t seed, double scale = 1.0) { return randn(s, seed, DType::F32, scale); }
Tensor rand_ties(const Shape& s, uint64_t seed) { return test::rand_ties(s, seed, DType::F32); }

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << no_cuda_reason();
    gpu = make_test_gpu();
    cpu = make_cpu_backend(true);
  }

  Tensor up(const Tensor& h) { return gpu->upload(h); }
  Tensor down(const Tensor& d) { return gpu->download(d); }

  // got is a CUDA tensor, ref a host one.
  void expect_close(const Tensor& got, const Tensor& ref, const std::string& what, double rtol = 1e-4,
                    double atol_rel = 1e-5) {
    ASSERT_EQ(got.device(), Device::CUDA) << what;
    Tensor g = down(got);
    ASSERT_EQ(g.shape(), ref.shape()) << what;
    ASSERT_EQ(g.dtype(), ref.dtype()) << what;
    const double atol = atol_rel * std::max(max_abs(ref), 1e-30);
    for (int64_t i = 0; i < g.numel(); ++i) ASSERT_FALSE(std::isnan(g.item(i)) && !std::isnan(ref.item(i))) << what;
    EXPECT_LE(mixed_error(g, ref, atol, rtol), 1.0) << what;
  }
  void expect_equal(const Tensor& got, const Tensor& ref, const std::string& what) {
    Tensor g = down(got);
    ASSERT_EQ(g.shape(), ref.shape()) << what;
    ASSERT_EQ(g.dtype(), ref.dtype()) << what;
    for (int64_t i = 0; i < g.numel(); ++i) ASSERT_EQ(g.item(i), ref.item(i)) << what << " at " << i;
  }

  std::unique_ptr<Backend> gpu, cpu;
};

TEST_F(CudaOps, MemoryRoundTrip) {
  Tensor h = randf({3, 5, 7}, 1);
  Tensor d = up(h);
  EXPECT_EQ(d.device(), Device::CUDA);
  EXPECT_EQ(d.shape(), h.shape());
  expect_equal(d, h, "upload/download");
  EXPECT_EQ(gpu->upload(d).raw(), d.raw()) << "upload of a device tensor shares it";
  EXPECT_EQ(cpu->download(h).raw(), h.raw());

  Tensor idx = Tensor::empty({4, 3}, DType::I32);
  for (int i = 0; i < 12; ++i) idx.data<int32_t>()[i] = i * 7 - 20;
  expect_equal(up(idx), idx, "int32 round trip");

  expect_equal(gpu->zeros({2, 9}, DType::F32), Tensor::zeros({2, 9}), "zeros");
  Tensor e = gpu->empty({0, 3}, DType::F32);
  EXPECT_TRUE(e.defined());
  EXPECT_EQ(down(e).numel(), 0);

  // copy_ into a slice, as Graph::vjp does
  Tensor dst = gpu->zeros({4, 5, 7}, DType::F32);
  Tensor slice = dst.slice0(1, 4);
  gpu->copy_(slice, d);
  Tensor back = down(dst);
  for (int64_t i = 0; i < 35; ++i) ASSERT_EQ(back.item(i), 0.0);
  for (int64_t i = 0; i < h.numel(); ++i) ASSERT_EQ(back.item(35 + i), h.item(i));

  EXPECT_THROW(gpu->relu_forward(h), ShapeError) << "a host tensor passed to a CUDA op";
  EXPECT_THROW(gpu->relu_forward(up(h.to(DType::F64))), ShapeError) << "float64 on CUDA";
}

TEST_F(CudaOps, AllocatorReusesBlocks) {
#ifdef SHAREDVIS_HAVE_CUDA
  gpu->synchronize();
  { Tensor a = gpu->empty({1000, 1000}, DType::F32); }
  CudaMemoryStats s0 = cuda_memory_stats(*gpu);
  for (int i = 0; i < 10; ++i) {
    Tensor a = gpu->empty({1000, 1000}, DType::F32);
    Tensor b = gpu->empty({999, 1000}, DType::F32);  // same bucket
  }
  CudaMemoryStats s1 = cuda_memory_stats(*gpu);
  EXPECT_LE(s1.reserved, s0.reserved + (size_t(8) << 20)) << "steady state must not grow the pool";
  EXPECT_EQ(s1.in_use, s0.in_use);
  // Tensors keep the allocator alive after their backend is gone.
  Tensor survivor = gpu->upload(randf({17}, 3));
  gpu.reset();
  survivor = Tensor();
#endif
}

struct ConvCase {
  Shape x, w;
  Conv2dParams p;
  bool bias;
  int64_t K;  // K-stacked copies for the data gradient
};

// The second call of a shape reuses its plan and gives the same bits (deterministic mode).
TEST_F(CudaOps, Conv2dPlanReusedSameBits) {
  const ConvCase c{{2, 16, 14, 14}, {32, 16, 3, 3}, conv_params(1, 1, 1, 1, 1, 1, 1), true, 5};
  Tensor gy = up(randf(fold_k(conv2d_out_shape(c.x, c.w, c.p), c.K), 7)), w = up(randf(c.w, 8));
  expect_equal(gpu->conv2d_backward_data(gy, w, c.x, c.p, c.K),
               down(gpu->conv2d_backward_data(gy, w, c.x, c.p, c.K)), "repeatable backward data");
}

// The shipped defaults (TF32 tensor cores, algorithms chosen by timing, nondeterministic
// allowed) and cuDNN's heuristics instead of timing: TF32 rounds inputs to 10 mantissa
// bits, so the tolerance is 5e-3 of the largest |ref|.
TEST_F(CudaOps, Conv2dDefaultOptionsAndHeuristics) {
#ifdef SHAREDVIS_HAVE_CUDA
  for (bool find : {true, false}) {
    CudaOptions o;  // defaults, not the environment
    o.find_algorithms = find;
    std::unique_ptr<Backend> fast = make_cuda_backend(0, o);
    const std::string mode = find ? "tf32 find" : "tf32 heuristic";
    uint64_t seed = 900;
    for (const ConvCase& c : std::vector<ConvCase>{
             {{4, 64, 28, 28}, {64, 64, 3, 3}, conv_params(1, 1, 1, 1, 1, 1, 1), true, 3},
             {{2, 3, 61, 57}, {16, 3, 7, 7}, conv_params(2, 2, 3, 3, 1, 1, 1), false, 2},
             {{2, 32, 14, 14}, {64, 32, 1, 1}, conv_params(2, 2, 0, 0, 1, 1, 1), false, 4},
             {{2, 8, 9, 9}, {8, 2, 3, 3}, conv_params(1, 1, 2, 2, 2, 2, 4), true, 2}}) {
      const std::string tag = mode + " x " + shape_str(c.x) + " w " + shape_str(c.w);
      Tensor x = randf(c.x, seed++), w = randf(c.w, seed++), b = c.bias ? randf({c.w[0]}, seed++) : Tensor();
      Tensor y = cpu->conv2d_forward(x, w, b, c.p);
      Tensor got = fast->conv2d_forward(fast->upload(x), fast->upload(w), c.bias ? fast->upload(b) : Tensor(), c.p);
      expect_close(got, y, "conv2d forward " + tag, 5e-3, 5e-3);
      Tensor gy = randf(fold_k(y.shape(), c.K), seed++);
      expect_close(fast->conv2d_backward_data(fast->upload(gy), fast->upload(w), c.x, c.p, c.K),
                   cpu->conv2d_backward_data(gy, w, c.x, c.p, c.K), "conv2d backward data " + tag, 5e-3, 5e-3);
      Tensor gy1 = gy.slice0(0, c.x[0]);
      expect_close(fast->conv2d_backward_filter(fast->upload(x), fast->upload(gy1), c.w, c.p),
                   cpu->conv2d_backward_filter(x, gy1, c.w, c.p), "conv2d backward filter " + tag, 5e-3, 5e-3);
    }
  }
#endif
}

// Device views that start off a 16-byte boundary, as Graph::vjp's chunks of cotangents
// may (slice0 of images with an odd number of elements): every op must take them (vector
// paths check alignment; cuDNN operands are copied when misaligned).
TEST_F(CudaOps, MisalignedViews) {
  // h's values one float into a device buffer: a view 4 bytes past a 256-byte boundary
  auto view = [&](const Tensor& h) {
    Tensor pad = Tensor::zeros({h.numel() + 1});
    std::memcpy(static_cast<float*>(pad.raw()) + 1, h.raw(), h.nbytes());
    Tensor d = up(pad).slice0(1, h.numel() + 1).reshape(h.shape());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(d.raw()) % 16, 4u) << "the view should be misaligned";
    return d;
  };
  const Shape s{3, 5, 7, 9};  // 315 elements per image
  Tensor a = randf(s, 950), b = randf(s, 951), m = rand_ties({1, 5, 7, 9}, 952);
  expect_close(gpu->add(view(a), view(b)), cpu->add(a, b), "add on views");
  expect_close(gpu->scale(view(a), 0.5), cpu->scale(a, 0.5), "scale on a view");
  Tensor y = view(a), yh = a.clone();
  gpu->axpy_(y, view(b), -0.7);
  cpu->axpy_(yh, b, -0.7);
  expect_close(y, yh, "axpy into a view");
  expect_close(gpu->relu_forward(view(a)), cpu->relu_forward(a), "relu on a view");
  expect_close(gpu->mul_tiled(view(a), view(m), 3), cpu->mul_tiled(a, m, 3), "mul_tiled on views");
  expect_close(gpu->relu_backward(view(a), view(m), 3), cpu->relu_backward(a, m, 3), "relu_backward on views");
  std::vector<double> t{0.0, 0.3, 1.0};
  expect_close(gpu->interpolate(view(a), view(b), t), cpu->interpolate(a, b, t), "interpolate on views");
  Tensor ca = randf({5}, 953), cb = randf({5}, 954);
  expect_close(gpu->channel_affine(view(a), up(ca), up(cb)), cpu->channel_affine(a, ca, cb), "channel_affine on a view");
  expect_close(gpu->channel_sum(view(a)), cpu->channel_sum(a), "channel_sum on a view");
  expect_close(gpu->sum_blocks(view(a), 3), cpu->sum_blocks(a, 3), "sum_blocks on a view");

  const Conv2dParams p = conv_params(1, 1, 1, 1, 1, 1, 1);
  Tensor w = randf({4, 5, 3, 3}, 955);
  Tensor cy = cpu->conv2d_forward(a, w, Tensor(), p);
  expect_close(gpu->conv2d_forward(view(a), up(w), Tensor(), p), cy, "conv2d forward on a view", 1e-4, 1e-4);
  Tensor gy = randf(cy.shape(), 956);
  expect_close(gpu->conv2d_backward_data(view(gy), up(w), s, p, 1), cpu->conv2d_backward_data(gy, w, s, p, 1),
               "conv2d backward data on a view", 1e-4, 1e-4);
  expect_close(gpu->conv2d_backward_filter(view(a), view(gy), w.shape(), p),
               cpu->conv2d_backward_filter(a, gy, w.shape(), p), "conv2d backward filter on views", 1e-4, 1e-4);

  Tensor x2 = randf({3, 7}, 957), w2 = randf({5, 7}, 958), g2 = randf({3, 5}, 959);
  expect_close(gpu->linear_forward(view(x2), up(w2), Tensor()), cpu->linear_forward(x2, w2, Tensor()),
               "linear forward on a view");
  expect_close(gpu->linear_backward_data(view(g2), up(w2), x2.shape(), 1), cpu->linear_backward_data(g2, w2, x2.shape(), 1),
               "linear backward data on a view");
  expect_close(gpu->linear_backward_weight(view(x2), view(g2)), cpu->linear_backward_weight(x2, g2),
               "linear backward weight on views");

  const Pool2dParams pp = pool_params(3, 3, 2, 2, 1, 1, false);
  Tensor idx, didx;
  Tensor py = cpu->maxpool_forward(a, pp, idx);
  expect_equal(gpu->maxpool_forward(view(a), pp, didx), py, "maxpool forward on a view");
  Tensor pg = randf(py.shape(), 960);  // (3, 5, 4, 5): 100 per image
  expect_close(gpu->maxpool_backward(view(pg), didx, s, 1), cpu->maxpool_backward(pg, idx, s, 1),
               "maxpool backward on a view");
  expect_close(gpu->avgpool_backward(view(pg), s, pp, 1), cpu->avgpool_backward(pg, s, pp, 1), "avgpool backward on a view");
  Tensor ag = randf({3, 5, 2, 3}, 961);
  expect_close(gpu->adaptive_avgpool_backward(view(ag), s, 1), cpu->adaptive_avgpool_backward(ag, s, 1),
               "adaptive avgpool backward on a view");
}

}  // namespace

// The checked-call macro needs no device: a failing call throws DeviceError naming the
// statement, the file and the line.
#ifdef SHAREDVIS_HAVE_CUDA
TEST(CudaCheck, FailingCallThrowsDeviceError) {
  try {
    SV_CUDA_CHECK(cudaSetDevice(1 << 20));
    FAIL() << "cudaSetDevice(1 << 20) succeeded";
  } catch (const DeviceError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cudaSetDevice(1 << 20)"), std::string::npos) << m;
    EXPECT_NE(m.find("test_cuda_ops.cpp"), std::string::npos) << m;
    EXPECT_NE(m.find("CUDA error"), std::string::npos) << m;
    EXPECT_NE(m.find("device"), std::string::npos) << m;
  }
  // The failure is not left behind as the runtime's last error, where the next launch
  // check would report it again. (Without a driver every call, this one too, fails.)
  if (cuda_available()) {
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  }
  try {
    SV_CUDA_CHECK(CUDNN_STATUS_BAD_PARAM);
    FAIL();
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("cuDNN error"), std::string::npos) << e.what();
  }
  try {
    SV_CUDA_CHECK(CUBLAS_STATUS_INVALID_VALUE);
    FAIL();
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("cuBLAS error"), std::string::npos) << e.what();
  }
}

TEST(CudaCheck, OptionsFromEnvironment) {
  const std::vector<std::string> names{"SHAREDVIS_CUDA_SYNC", "SHAREDVIS_CUDA_DETERMINISTIC", "SHAREDVIS_CUDA_TF32",
                                       "SHAREDVIS_CUDA_WORKSPACE_MB", "SHAREDVIS_CUDA_CONV_SEARCH"};
  std::vector<std::pair<bool, std::string>> saved;
  for (const std::string& n : names) {
    const char* v = std::getenv(n.c_str());
    saved.emplace_back(v != nullptr, v ? v : "");
  }
  setenv("SHAREDVIS_CUDA_SYNC", "1", 1);
  setenv("SHAREDVIS_CUDA_DETERMINISTIC", "1", 1);
  setenv("SHAREDVIS_CUDA_TF32", "0", 1);
  setenv("SHAREDVIS_CUDA_WORKSPACE_MB", "64", 1);
  setenv("SHAREDVIS_CUDA_CONV_SEARCH", "heuristic", 1);
  CudaOptions o = CudaOptions::from_env();
  EXPECT_TRUE(o.sync);
  EXPECT_TRUE(o.deterministic);
  EXPECT_FALSE(o.tf32);
  EXPECT_FALSE(o.find_algorithms);
  EXPECT_EQ(o.workspace_limit, size_t(64) << 20);
  setenv("SHAREDVIS_CUDA_SYNC", "maybe", 1);
  EXPECT_THROW(CudaOptions::from_env(), ValueError);
  for (size_t i = 0; i < names.size(); ++i) {
    if (saved[i].first)
      setenv(names[i].c_str(), saved[i].second.c_str(), 1);
    else
      unsetenv(names[i].c_str());
  }
}
#endif

}  // namespace sv::test
