// CudaOps: every Backend method of the CUDA backend against the CPU reference backend in
// float32, |cuda - ref| <= atol + rtol * |ref| with rtol = 1e-4 (atol relative to the
// largest |ref|), over odd shapes: groups, strides, dilation, padding, ceil_mode, ties in
// max pooling, K-stacked gradients. The CUDA backend runs in deterministic mode with full
// float32 convolutions (no TF32). Without a CUDA device every test is skipped, saying why.
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

// Values in {-3, ..., 3}: many ties for max pooling, exact zeros for relu.
Tensor rand_ties(const Shape& s, uint64_t seed) {
  Tensor t = randf(s, seed, 1.5);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::round(t.data<float>()[i]);
  return t;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t.item(i)));
  return m;
}

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

TEST_F(CudaOps, Elementwise) {
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{4, 8}, Shape{1}, Shape{3, 1, 4, 4}}) {
    Tensor a = randf(s, 10), b = randf(s, 11);
    const std::string tag = " " + shape_str(s);
    expect_close(gpu->add(up(a), up(b)), cpu->add(a, b), "add" + tag);
    expect_close(gpu->scale(up(a), -1.7), cpu->scale(a, -1.7), "scale" + tag);
    expect_close(gpu->relu_forward(up(rand_ties(s, 12))), cpu->relu_forward(rand_ties(s, 12)), "relu" + tag);
    expect_close(gpu->add_relu(up(rand_ties(s, 13)), up(rand_ties(s, 14))),
                 cpu->relu_forward(cpu->add(rand_ties(s, 13), rand_ties(s, 14))), "add_relu" + tag);
    Tensor y = up(a), yh = a.clone();
    gpu->axpy_(y, up(b), 0.3);
    cpu->axpy_(yh, b, 0.3);
    expect_close(y, yh, "axpy" + tag);
    Tensor z = up(a), zh = a.clone();
    gpu->axpy_(z, z, -0.1);  // aliasing, as running statistics are updated
    cpu->axpy_(zh, zh, -0.1);
    expect_close(z, zh, "axpy aliased" + tag);
  }
  // K-tiled factors: periods that are and are not multiples of 4
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{2, 4, 4, 4}, Shape{3, 5}}) {
    for (int64_t K : {1, 3}) {
      Tensor g = randf(fold_k(s, K), 20), m = randf(s, 21), yv = rand_ties(s, 22);
      const std::string tag = " " + shape_str(s) + " K=" + std::to_string(K);
      expect_close(gpu->mul_tiled(up(g), up(m)), cpu->mul_tiled(g, m), "mul_tiled" + tag);
      expect_close(gpu->relu_backward(up(g), up(yv)), cpu->relu_backward(g, yv), "relu_backward" + tag);
    }
  }
  EXPECT_THROW(gpu->relu_backward(up(randf({7}, 1)), up(randf({2}, 2))), ShapeError);
  for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{2, 8}}) {
    Tensor x0 = randf(s, 30), x1 = randf(s, 31);
    std::vector<double> t{0.0, 0.125, 0.5, 0.77, 1.0};
    expect_close(gpu->interpolate(up(x0), up(x1), t), cpu->interpolate(x0, x1, t), "interpolate " + shape_str(s));
  }
}

TEST_F(CudaOps, Reductions) {
  Tensor x = randf({100003}, 40);
  expect_close(gpu->sum_all(up(x)), cpu->sum_all(x), "sum_all", 1e-4, 1e-6);
  Tensor xb = randf({4, 3, 5, 7}, 41);
  expect_close(gpu->sum_blocks(up(xb), 4), cpu->sum_blocks(xb, 4), "sum_blocks");
  Tensor big = randf({3, 64, 33, 31}, 42);
  expect_close(gpu->sum_blocks(up(big), 3), cpu->sum_blocks(big, 3), "sum_blocks large", 1e-4, 1e-6);
  Tensor g = randf({5}, 43);
  expect_close(gpu->broadcast_blocks(up(g), 13, 0.25), cpu->broadcast_blocks(g, 13, 0.25), "broadcast_blocks");
  for (const Shape& s : {Shape{3, 5, 7, 9}, Shape{6, 11}, Shape{2, 64, 56, 56}}) {
    Tensor gy = randf(s, 44);
    expect_close(gpu->channel_sum(up(gy)), cpu->channel_sum(gy), "channel_sum " + shape_str(s), 1e-4, 1e-6);
  }
}

struct ConvCase {
  Shape x, w;
  Conv2dParams p;
  bool bias;
  int64_t K;  // K-stacked copies for the data gradient
};

TEST_F(CudaOps, Conv2d) {
  const std::vector<ConvCase> cases{
      {{2, 3, 11, 9}, {5, 3, 3, 3}, conv_params(1, 1, 1, 1, 1, 1, 1), true, 3},
      {{2, 4, 13, 10}, {6, 2, 3, 2}, conv_params(2, 1, 1, 0, 1, 1, 2), false, 2},    // groups, odd kernel
      {{1, 6, 15, 12}, {6, 1, 3, 3}, conv_params(2, 2, 2, 2, 2, 2, 6), true, 4},     // depthwise, dilation
      {{3, 8, 9, 9}, {16, 8, 1, 1}, conv_params(2, 2, 0, 0, 1, 1, 1), false, 2},     // 1x1 stride 2
      {{2, 3, 29, 31}, {8, 3, 7, 7}, conv_params(2, 2, 3, 3, 1, 1, 1), false, 2},    // resnet stem
      {{2, 16, 14, 14}, {32, 16, 3, 3}, conv_params(1, 1, 1, 1, 1, 1, 1), true, 5},  // a resnet 3x3
      {{1, 9, 7, 8}, {6, 3, 2, 3}, conv_params(1, 2, 1, 1, 3, 1, 3), true, 1},
  };
  uint64_t seed = 100;
  for (const ConvCase& c : cases) {
    const std::string tag = "x " + shape_str(c.x) + " w " + shape_str(c.w) + " groups " + std::to_string(c.p.groups);
    Tensor x = randf(c.x, seed++), w = randf(c.w, seed++);
    Tensor b = c.bias ? randf({c.w[0]}, seed++) : Tensor();
    Tensor y = cpu->conv2d_forward(x, w, b, c.p);
    // atol 1e-4 * max|ref|: cuDNN may pick FFT or Winograd algorithms, exact only to that
    expect_close(gpu->conv2d_forward(up(x), up(w), c.bias ? up(b) : Tensor(), c.p), y, "conv2d forward " + tag, 1e-4,
                 1e-4);
    expect_close(gpu->conv2d_relu_forward(up(x), up(w), c.bias ? up(b) : Tensor(), c.p), cpu->relu_forward(y),
                 "conv2d + relu forward " + tag, 1e-4, 1e-4);

    Tensor gy = randf(fold_k(y.shape(), c.K), seed++);
    Shape xs = fold_k(c.x, c.K);
    expect_close(gpu->conv2d_backward_data(up(gy), up(w), xs, c.p), cpu->conv2d_backward_data(gy, w, xs, c.p),
                 "conv2d backward data K=" + std::to_string(c.K) + " " + tag, 1e-4, 1e-4);
    Tensor gy1 = gy.slice0(0, c.x[0]);
    expect_close(gpu->conv2d_backward_filter(up(x), up(gy1), c.w, c.p), cpu->conv2d_backward_filter(x, gy1, c.w, c.p),
                 "conv2d backward filter " + tag, 1e-4, 1e-4);
    if (c.bias) expect_close(gpu->channel_sum(up(gy1)), cpu->channel_sum(gy1), "conv2d bias grad " + tag);
  }
  // The second call of a shape reuses its plan and gives the same bits (deterministic mode).
  const ConvCase& c = cases[5];
  Tensor gy = up(randf(fold_k(conv2d_out_shape(c.x, c.w, c.p), c.K), 7)), w = up(randf(c.w, 8));
  expect_equal(gpu->conv2d_backward_data(gy, w, fold_k(c.x, c.K), c.p),
               down(gpu->conv2d_backward_data(gy, w, fold_k(c.x, c.K), c.p)), "repeatable backward data");
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
      const Shape xs = fold_k(c.x, c.K);
      expect_close(fast->conv2d_backward_data(fast->upload(gy), fast->upload(w), xs, c.p),
                   cpu->conv2d_backward_data(gy, w, xs, c.p), "conv2d backward data " + tag, 5e-3, 5e-3);
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
  expect_close(gpu->mul_tiled(view(a), view(m)), cpu->mul_tiled(a, m), "mul_tiled on views");
  expect_close(gpu->relu_backward(view(a), view(m)), cpu->relu_backward(a, m), "relu_backward on views");
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
  expect_close(gpu->conv2d_backward_data(view(gy), up(w), s, p), cpu->conv2d_backward_data(gy, w, s, p),
               "conv2d backward data on a view", 1e-4, 1e-4);
  expect_close(gpu->conv2d_backward_filter(view(a), view(gy), w.shape(), p),
               cpu->conv2d_backward_filter(a, gy, w.shape(), p), "conv2d backward filter on views", 1e-4, 1e-4);

  Tensor x2 = randf({3, 7}, 957), w2 = randf({5, 7}, 958), g2 = randf({3, 5}, 959);
  expect_close(gpu->linear_forward(view(x2), up(w2), Tensor()), cpu->linear_forward(x2, w2, Tensor()),
               "linear forward on a view");
  expect_close(gpu->linear_backward_data(view(g2), up(w2)), cpu->linear_backward_data(g2, w2),
               "linear backward data on a view");
  expect_close(gpu->linear_backward_weight(view(x2), view(g2)), cpu->linear_backward_weight(x2, g2),
               "linear backward weight on views");

  const Pool2dParams pp = pool_params(3, 3, 2, 2, 1, 1, false);
  Tensor idx, didx;
  Tensor py = cpu->maxpool_forward(a, pp, idx);
  expect_equal(gpu->maxpool_forward(view(a), pp, didx), py, "maxpool forward on a view");
  Tensor pg = randf(py.shape(), 960);  // (3, 5, 4, 5): 100 per image
  expect_close(gpu->maxpool_backward(view(pg), didx, s), cpu->maxpool_backward(pg, idx, s),
               "maxpool backward on a view");
  expect_close(gpu->avgpool_backward(view(pg), s, pp), cpu->avgpool_backward(pg, s, pp), "avgpool backward on a view");
  Tensor ag = randf({3, 5, 2, 3}, 961);
  expect_close(gpu->adaptive_avgpool_backward(view(ag), s), cpu->adaptive_avgpool_backward(ag, s),
               "adaptive avgpool backward on a view");
}

TEST_F(CudaOps, BatchNorm) {
  for (const Shape& s : {Shape{3, 5, 7, 6}, Shape{4, 6}, Shape{2, 64, 28, 28}}) {
    const int64_t C = s[1];
    const std::string tag = " " + shape_str(s);
    Tensor x = randf(s, 200, 2.0), a = randf({C}, 201), b = randf({C}, 202);
    expect_close(gpu->channel_affine(up(x), up(a), up(b)), cpu->channel_affine(x, a, b), "channel_affine" + tag);
    Tensor xk = randf(fold_k(s, 3), 203);
    expect_close(gpu->channel_affine(up(xk), up(a), Tensor()), cpu->channel_affine(xk, a, Tensor()),
                 "channel_affine K-stacked, no shift" + tag);

    Tensor gamma = randf({C}, 204), beta = randf({C}, 205);
    Tensor m, v, is, xh, dm, dv, dis, dxh;
    Tensor y = cpu->batchnorm_train_forward(x, gamma, beta, 1e-5, m, v, is, xh);
    Tensor dy = gpu->batchnorm_train_forward(up(x), up(gamma), up(beta), 1e-5, dm, dv, dis, dxh);
    expect_close(dy, y, "batchnorm train y" + tag);
    expect_close(dm, m, "batchnorm train mean" + tag);
    expect_close(dv, v, "batchnorm train var_unbiased" + tag);
    expect_close(dis, is, "batchnorm train invstd" + tag);
    expect_close(dxh, xh, "batchnorm train xhat" + tag);
    for (int64_t K : {1, 3}) {
      Tensor gy = randf(fold_k(s, K), 206 + K);
      Tensor gg, gb, dgg, dgb;
      Tensor gx = cpu->batchnorm_train_backward(gy, xh, gamma, is, gg, gb);
      Tensor dgx = gpu->batchnorm_train_backward(up(gy), up(xh), up(gamma), up(is), dgg, dgb);
      const std::string kt = tag + " K=" + std::to_string(K);
      expect_close(dgx, gx, "batchnorm train backward gx" + kt, 1e-4, 1e-4);
      expect_close(dgg, gg, "batchnorm train backward ggamma" + kt);
      expect_close(dgb, gb, "batchnorm train backward gbeta" + kt);
    }
  }
}

TEST_F(CudaOps, MaxPool) {
  struct Case {
    Shape x;
    Pool2dParams p;
  };
  const std::vector<Case> cases{
      {{2, 3, 11, 9}, pool_params(3, 3, 2, 2, 1, 1, false)},   // resnet's stem pool
      {{1, 4, 10, 13}, pool_params(3, 2, 2, 1, 1, 0, true)},   // ceil_mode, overlapping rows
      {{2, 2, 7, 7}, pool_params(2, 2, 2, 2, 0, 0, true)},     // ceil_mode with a partial last window
      {{3, 5, 6, 8}, pool_params(6, 8, 6, 8, 0, 0, false)},    // global max
      {{1, 2, 64, 40}, pool_params(5, 5, 1, 1, 2, 2, false)},  // many outputs per input
  };
  uint64_t seed = 300;
  for (const Case& c : cases) {
    const std::string tag = "x " + shape_str(c.x) + " k (" + std::to_string(c.p.kernel_h) + "," +
                            std::to_string(c.p.kernel_w) + ") ceil " + std::to_string(c.p.ceil_mode);
    for (bool ties : {false, true}) {
      Tensor x = ties ? rand_ties(c.x, seed++) : randf(c.x, seed++);
      Tensor idx, didx;
      Tensor y = cpu->maxpool_forward(x, c.p, idx);
      Tensor dy = gpu->maxpool_forward(up(x), c.p, didx);
      expect_equal(dy, y, "maxpool forward " + tag);
      expect_equal(didx, idx, "maxpool indices (first max wins) " + tag);
      for (int64_t K : {1, 3}) {
        Tensor gy = randf(fold_k(y.shape(), K), seed++);
        Shape xs = fold_k(c.x, K);
        expect_close(gpu->maxpool_backward(up(gy), didx, xs), cpu->maxpool_backward(gy, idx, xs),
                     "maxpool backward K=" + std::to_string(K) + " " + tag);
      }
    }
  }
}

TEST_F(CudaOps, AvgPool) {
  struct Case {
    Shape x;
    Pool2dParams p;
  };
  const std::vector<Case> cases{
      {{2, 3, 11, 9}, pool_params(3, 3, 2, 2, 1, 1, false, true)}, {{2, 3, 11, 9}, pool_params(3, 3, 2, 2, 1, 1, false, false)},
      {{1, 4, 10, 13}, pool_params(3, 2, 2, 1, 1, 1, true, true)}, {{1, 4, 10, 13}, pool_params(3, 2, 2, 1, 1, 1, true, false)},
      {{2, 2, 7, 7}, pool_params(2, 2, 2, 2, 0, 0, true, true)},   {{1, 3, 8, 8}, pool_params(4, 4, 1, 1, 2, 2, false, true)},
  };
  uint64_t seed = 400;
  for (const Case& c : cases) {
    const std::string tag = "x " + shape_str(c.x) + " k (" + std::to_string(c.p.kernel_h) + "," +
                            std::to_string(c.p.kernel_w) + ") ceil " + std::to_string(c.p.ceil_mode) + " include_pad " +
                            std::to_string(c.p.count_include_pad);
    Tensor x = randf(c.x, seed++);
    Tensor y = cpu->avgpool_forward(x, c.p);
    expect_close(gpu->avgpool_forward(up(x), c.p), y, "avgpool forward " + tag);
    for (int64_t K : {1, 2}) {
      Tensor gy = randf(fold_k(y.shape(), K), seed++);
      Shape xs = fold_k(c.x, K);
      expect_close(gpu->avgpool_backward(up(gy), xs, c.p), cpu->avgpool_backward(gy, xs, c.p),
                   "avgpool backward K=" + std::to_string(K) + " " + tag);
    }
  }
}

TEST_F(CudaOps, AdaptiveAvgPool) {
  struct Case {
    Shape x;
    int oh, ow;
  };
  const std::vector<Case> cases{
      {{2, 3, 7, 10}, 3, 4}, {{1, 5, 7, 7}, 1, 1}, {{2, 2, 5, 6}, 7, 9}, {{1, 4, 13, 11}, 6, 6}};
  uint64_t seed = 500;
  for (const Case& c : cases) {
    const std::string tag = "x " + shape_str(c.x) + " -> (" + std::to_string(c.oh) + "," + std::to_string(c.ow) + ")";
    Tensor x = randf(c.x, seed++);
    Tensor y = cpu->adaptive_avgpool_forward(x, c.oh, c.ow);
    expect_close(gpu->adaptive_avgpool_forward(up(x), c.oh, c.ow), y, "adaptive avgpool forward " + tag);
    for (int64_t K : {1, 3}) {
      Tensor gy = randf(fold_k(y.shape(), K), seed++);
      Shape xs = fold_k(c.x, K);
      expect_close(gpu->adaptive_avgpool_backward(up(gy), xs), cpu->adaptive_avgpool_backward(gy, xs),
                   "adaptive avgpool backward K=" + std::to_string(K) + " " + tag);
    }
  }
}

TEST_F(CudaOps, Linear) {
  for (auto [N, I, O] : std::vector<std::array<int64_t, 3>>{{3, 7, 5}, {1, 2048, 1000}, {8, 33, 17}}) {
    const std::string tag = " N " + std::to_string(N) + " in " + std::to_string(I) + " out " + std::to_string(O);
    Tensor x = randf({N, I}, 600), w = randf({O, I}, 601), b = randf({O}, 602);
    expect_close(gpu->linear_forward(up(x), up(w), up(b)), cpu->linear_forward(x, w, b), "linear forward" + tag);
    expect_close(gpu->linear_forward(up(x), up(w), Tensor()), cpu->linear_forward(x, w, Tensor()),
                 "linear forward no bias" + tag);
    Tensor gy = randf({3 * N, O}, 603);  // K = 3 stacked
    expect_close(gpu->linear_backward_data(up(gy), up(w)), cpu->linear_backward_data(gy, w),
                 "linear backward data" + tag);
    Tensor gy1 = gy.slice0(0, N);
    expect_close(gpu->linear_backward_weight(up(x), up(gy1)), cpu->linear_backward_weight(x, gy1),
                 "linear backward weight" + tag);
  }
}

TEST_F(CudaOps, SoftmaxCrossEntropy) {
  for (auto [N, C] : std::vector<std::array<int64_t, 2>>{{4, 10}, {3, 1000}, {1, 3}}) {
    const std::string tag = " N " + std::to_string(N) + " classes " + std::to_string(C);
    Tensor logits = randf({N, C}, 700, 3.0);
    Tensor labels = Tensor::empty({N}, DType::I32);
    for (int64_t n = 0; n < N; ++n) labels.data<int32_t>()[n] = static_cast<int32_t>((n * 7 + 3) % C);
    Tensor probs, dprobs;
    Tensor loss = cpu->softmax_xent_forward(logits, labels, probs);
    Tensor dlabels = up(labels);
    expect_close(gpu->softmax_xent_forward(up(logits), dlabels, dprobs), loss, "cross-entropy loss" + tag);
    expect_close(dprobs, probs, "cross-entropy probs" + tag);
    Tensor g = randf({3}, 701);
    expect_close(gpu->softmax_xent_backward(up(g), dprobs, dlabels), cpu->softmax_xent_backward(g, probs, labels),
                 "cross-entropy backward K=3" + tag);
  }
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
