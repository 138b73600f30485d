// FastPath: every kernel of the fast CPU backend against the reference backend in float32,
// |fast - ref| <= atol + rtol * |ref|, over odd shapes, groups, strides, dilations, padding,
// K-stacked batches, and 1, 2 and 3 threads (tiles side by side, one tile split over the
// threads, more threads than images).
#include <atomic>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "backends/factory.h"
#include "backends/reference/reference.h"
#include "tests/gradcheck.h"

namespace sv::test {

namespace {
constexpr double kAtol = 1e-4, kRtol = 1e-4;

Tensor randf(const Shape& s, uint64_t seed) { return randn(s, seed, DType::F32); }

void expect_match(const Tensor& fast, const Tensor& ref, const std::string& what) {
  ASSERT_EQ(fast.shape(), ref.shape()) << what;
  ASSERT_EQ(fast.dtype(), ref.dtype()) << what;
  EXPECT_LE(mixed_error(fast, ref, kAtol, kRtol), 1.0) << what;
}

struct FastBackend {
  int threads;
  std::unique_ptr<Backend> be;
  Backend* operator->() const { return be.get(); }
  std::string label() const { return "(fast, " + std::to_string(threads) + " threads)"; }
};

// The fast backend on one thread, and on 2 and 3 threads splitting even tiny work (the
// default minimum work per thread would keep these small tensors on one thread).
struct Backends {
  std::unique_ptr<Backend> ref = make_cpu_backend(true);
  std::vector<FastBackend> fast;
  Backends() {
    fast.push_back({1, make_cpu_backend(false, 1)});
    for (int threads : {2, 3})
      fast.push_back({threads, std::make_unique<CpuBackend>(fast::Parallel{threads, 64, 256})});
  }
};

struct ConvCase {
  Shape x, w;
  Conv2dParams p;
  bool bias;
  int64_t K;  // K-stacked copies in the data gradient
};

std::string describe(const ConvCase& c) {
  const Conv2dParams& p = c.p;
  return "x " + shape_str(c.x) + " w " + shape_str(c.w) + " stride (" + std::to_string(p.stride_h) + "," +
         std::to_string(p.stride_w) + ") pad (" + std::to_string(p.pad_h) + "," + std::to_string(p.pad_w) + ") dil (" +
         std::to_string(p.dil_h) + "," + std::to_string(p.dil_w) + ") groups " + std::to_string(p.groups) + " K " +
         std::to_string(c.K);
}

// Random convolutions with odd sizes; every one must have a non-empty output.
std::vector<ConvCase> random_conv_cases(int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return static_cast<int>(lo + rng() % (hi - lo + 1)); };
  std::vector<ConvCase> cases;
  while (static_cast<int>(cases.size()) < count) {
    ConvCase c;
    c.p.groups = pick(1, 3);
    c.p.stride_h = pick(1, 3);
    c.p.stride_w = pick(1, 3);
    c.p.dil_h = pick(1, 2);
    c.p.dil_w = pick(1, 3);
    c.p.pad_h = pick(0, 2);
    c.p.pad_w = pick(0, 3);
    const int cg = pick(1, 5), og = pick(1, 4);
    c.x = {pick(1, 5), cg * c.p.groups, pick(3, 13), pick(3, 13)};
    c.w = {og * c.p.groups, cg, pick(1, 4), pick(1, 4)};
    c.bias = rng() % 2 == 0;
    c.K = pick(1, 3);
    try {
      conv2d_out_shape(c.x, c.w, c.p);
    } catch (const ShapeError&) {
      continue;
    }
    cases.push_back(c);
  }
  return cases;
}

// The reference runs in float64 on the same float32 values: its sums over up to ~10^4 terms
// (the filter gradient of a large image) are then exact to float32, and only the fast
// path's rounding is measured.
void check_conv(Backends& be, const ConvCase& c, uint64_t seed) {
  const Shape ys = conv2d_out_shape(c.x, c.w, c.p);
  const Tensor x = randf(c.x, seed), w = randf(c.w, seed + 1), b = c.bias ? randf({c.w[0]}, seed + 2) : Tensor();
  const Tensor gy = randf(ys, seed + 3), gyk = randf(fold_k(ys, c.K), seed + 4);
  auto f64 = [](const Tensor& t) { return t.defined() ? t.to(DType::F64) : t; };
  const Tensor y_ref = be.ref->conv2d_forward(f64(x), f64(w), f64(b), c.p).to(DType::F32);
  const Tensor gx_ref = be.ref->conv2d_backward_data(f64(gyk), f64(w), fold_k(c.x, c.K), c.p).to(DType::F32);
  const Tensor gw_ref = be.ref->conv2d_backward_filter(f64(x), f64(gy), c.w, c.p).to(DType::F32);
  for (auto& f : be.fast) {
    const std::string what = describe(c) + " " + f.label();
    expect_match(f->conv2d_forward(x, w, b, c.p), y_ref, "forward " + what);
    expect_match(f->conv2d_relu_forward(x, w, b, c.p), be.ref->relu_forward(y_ref), "forward + relu " + what);
    expect_match(f->conv2d_backward_data(gyk, w, fold_k(c.x, c.K), c.p), gx_ref, "backward data " + what);
    expect_match(f->conv2d_backward_filter(x, gy, c.w, c.p), gw_ref, "backward filter " + what);
  }
}

Pool2dParams square_pool(int k, int s, int pad, bool ceil_mode, bool include_pad = true) {
  return pool_params(k, k, s, s, pad, pad, ceil_mode, include_pad);
}
}  // namespace

TEST(FastPath, Conv2dRandomOddShapesGroupsStridesDilation) {
  Backends be;
  uint64_t seed = 1000;
  for (const ConvCase& c : random_conv_cases(60, 5)) check_conv(be, c, seed += 10);
}

// Shapes where several images share one GEMM (small planes, many images), where the 1x1
// path reads images in place, a ResNet-like 3x3 and strided 1x1, single images large
// enough that im2col, GEMM and col2im are split over threads, and images large enough to
// be lowered in bands of output rows (strided and dilated too).
TEST(FastPath, Conv2dChunkedBandedAndPointwise) {
  Backends be;
  const ConvCase cases[] = {{{9, 8, 5, 5}, {12, 8, 3, 3}, square_conv(1, 1), true, 3},
                            {{7, 16, 3, 4}, {8, 16, 1, 1}, square_conv(1, 0), false, 2},
                            {{1, 16, 9, 9}, {8, 16, 1, 1}, square_conv(1, 0), true, 1},
                            {{3, 32, 15, 15}, {48, 32, 3, 3}, square_conv(1, 1), false, 1},
                            {{4, 24, 12, 11}, {16, 24, 1, 1}, square_conv(2, 0), true, 2},
                            {{5, 12, 8, 8}, {12, 3, 3, 3}, square_conv(2, 2, 2, 4), true, 3},
                            {{2, 3, 23, 21}, {8, 3, 7, 7}, square_conv(2, 3), false, 2},
                            {{1, 32, 20, 20}, {40, 32, 3, 3}, square_conv(1, 1), true, 1},
                            {{1, 24, 16, 18}, {36, 8, 3, 3}, square_conv(1, 1, 1, 3), false, 1},
                            {{1, 16, 250, 120}, {6, 8, 3, 3}, square_conv(1, 1, 1, 2), true, 1},
                            {{1, 24, 300, 130}, {6, 12, 3, 3}, square_conv(2, 2, 2, 2), false, 2}};
  uint64_t seed = 2000;
  for (const ConvCase& c : cases) check_conv(be, c, seed += 10);
}

TEST(FastPath, LinearForwardAndBackward) {
  Backends be;
  struct Case {
    int64_t N, I, O;
    bool bias;
  };
  uint64_t seed = 3000;
  for (const Case& c : {Case{1, 1, 1, true}, Case{3, 7, 5, true}, Case{70, 33, 19, false}, Case{37, 64, 101, true},
                        Case{300, 128, 200, true}}) {
    const Tensor x = randf({c.N, c.I}, ++seed), w = randf({c.O, c.I}, ++seed);
    const Tensor b = c.bias ? randf({c.O}, ++seed) : Tensor(), gy = randf({c.N, c.O}, ++seed);
    for (auto& f : be.fast) {
      const std::string what = "N " + std::to_string(c.N) + " I " + std::to_string(c.I) + " O " + std::to_string(c.O);
      expect_match(f->linear_forward(x, w, b), be.ref->linear_forward(x, w, b), "forward " + what);
      expect_match(f->linear_backward_data(gy, w), be.ref->linear_backward_data(gy, w), "data " + what);
      expect_match(f->linear_backward_weight(x, gy), be.ref->linear_backward_weight(x, gy), "weight " + what);
    }
  }
}

TEST(FastPath, ElementwiseAndKTiled) {
  Backends be;
  for (const Shape& s : {Shape{3, 5}, Shape{2, 3, 7, 5}, Shape{4, 7, 20, 17}}) {
    const Tensor x = randf(s, 4001), x2 = randf(s, 4002), y = be.ref->relu_forward(x);
    for (int64_t K : {1, 3}) {
      const Tensor gk = randf(fold_k(s, K), 4003 + K);
      for (auto& f : be.fast) {
        const std::string what = shape_str(s) + " K " + std::to_string(K) + " " + f.label();
        expect_match(f->relu_backward(gk, y), be.ref->relu_backward(gk, y), "relu backward " + what);
        expect_match(f->mul_tiled(gk, x), be.ref->mul_tiled(gk, x), "mul_tiled " + what);
      }
    }
    for (auto& f : be.fast) {
      const std::string what = shape_str(s);
      expect_match(f->relu_forward(x), y, "relu " + what);
      expect_match(f->add(x, x2), be.ref->add(x, x2), "add " + what);
      expect_match(f->scale(x, -0.37), be.ref->scale(x, -0.37), "scale " + what);
      Tensor a = x.clone(), r = x.clone();
      f->axpy_(a, x2, 1.7);
      be.ref->axpy_(r, x2, 1.7);
      expect_match(a, r, "axpy " + what);
    }
  }
}

TEST(FastPath, ChannelSumAffineAndBatchNorm) {
  Backends be;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{6, 5}, Shape{4, 24, 17, 19}}) {
    const int64_t C = s[1];
    const Tensor x = randf(s, 5001), a = randf({C}, 5002), c = randf({C}, 5003);
    const Tensor gamma = randf({C}, 5004), beta = randf({C}, 5005);
    Tensor rmean, rvar, rinv, rxhat, fmean, fvar, finv, fxhat;
    const Tensor ry = be.ref->batchnorm_train_forward(x, gamma, beta, 1e-5, rmean, rvar, rinv, rxhat);
    for (auto& f : be.fast) {
      const std::string what = shape_str(s) + " " + f.label();
      expect_match(f->channel_sum(x), be.ref->channel_sum(x), "channel_sum " + what);
      expect_match(f->channel_affine(x, a, c), be.ref->channel_affine(x, a, c), "channel_affine " + what);
      expect_match(f->batchnorm_train_forward(x, gamma, beta, 1e-5, fmean, fvar, finv, fxhat), ry, "bn y " + what);
      expect_match(fmean, rmean, "bn mean " + what);
      expect_match(fvar, rvar, "bn var " + what);
      expect_match(finv, rinv, "bn invstd " + what);
      expect_match(fxhat, rxhat, "bn xhat " + what);
      for (int64_t K : {1, 3}) {
        const Tensor gk = randf(fold_k(s, K), 5010 + K);
        expect_match(f->channel_affine(gk, a, Tensor()), be.ref->channel_affine(gk, a, Tensor()),
                     "channel_affine K-stacked " + what);
        Tensor rgg, rgb, fgg, fgb;
        const Tensor rgx = be.ref->batchnorm_train_backward(gk, rxhat, gamma, rinv, rgg, rgb);
        expect_match(f->batchnorm_train_backward(gk, rxhat, gamma, rinv, fgg, fgb), rgx, "bn backward " + what);
        expect_match(fgg, rgg, "bn ggamma " + what);
        expect_match(fgb, rgb, "bn gbeta " + what);
      }
    }
  }
}

TEST(FastPath, MaxPoolValuesIndicesAndKTiledBackward) {
  Backends be;
  const Pool2dParams cases[] = {square_pool(3, 2, 1, false), square_pool(3, 2, 1, true), square_pool(2, 2, 0, true),
                                square_pool(5, 3, 2, true)};
  for (const Pool2dParams& p : cases)
    for (const Shape& s : {Shape{2, 3, 7, 8}, Shape{3, 17, 32, 31}}) {
      const Tensor x = randf(s, 6001);
      Tensor ri, fi;
      const Tensor ry = be.ref->maxpool_forward(x, p, ri);
      for (auto& f : be.fast) {
        const std::string what = shape_str(s) + " k " + std::to_string(p.kernel_h) + " ceil " +
                                 std::to_string(p.ceil_mode) + " " + f.label();
        expect_match(f->maxpool_forward(x, p, fi), ry, "maxpool " + what);
        ASSERT_EQ(fi.shape(), ri.shape());
        for (int64_t i = 0; i < ri.numel(); ++i) ASSERT_EQ(fi.data<int32_t>()[i], ri.data<int32_t>()[i]) << what;
        for (int64_t K : {1, 2}) {
          const Tensor gk = randf(fold_k(ry.shape(), K), 6010 + K);
          expect_match(f->maxpool_backward(gk, ri, fold_k(s, K)), be.ref->maxpool_backward(gk, ri, fold_k(s, K)),
                       "maxpool backward K " + std::to_string(K) + " " + what);
        }
      }
    }
}

TEST(FastPath, AvgPoolAndAdaptiveAvgPool) {
  Backends be;
  for (bool include_pad : {true, false})
    for (bool ceil_mode : {false, true})
      for (const Pool2dParams& p :
           {square_pool(3, 2, 1, ceil_mode, include_pad), square_pool(2, 3, 1, ceil_mode, include_pad)})
        for (const Shape& s : {Shape{2, 3, 7, 8}, Shape{6, 17, 33, 29}}) {
          const Tensor x = randf(s, 7001);
          const Tensor gy = randf(pool2d_out_shape(s, p, "avgpool2d"), 7002);
          for (auto& f : be.fast) {
            const std::string what = shape_str(s) + " include_pad " + std::to_string(include_pad) + " ceil " +
                                     std::to_string(ceil_mode) + " " + f.label();
            expect_match(f->avgpool_forward(x, p), be.ref->avgpool_forward(x, p), "avgpool " + what);
            expect_match(f->avgpool_backward(gy, s, p), be.ref->avgpool_backward(gy, s, p), "avgpool backward " + what);
          }
        }
  struct Case {
    Shape x;
    int oh, ow;
  };
  for (const Case& c :
       {Case{{2, 3, 10, 9}, 7, 7}, Case{{3, 5, 7, 6}, 1, 1}, Case{{2, 4, 8, 7}, 3, 5}, Case{{8, 40, 13, 17}, 7, 7}}) {
    const Tensor x = randf(c.x, 7101), gy = randf({c.x[0], c.x[1], c.oh, c.ow}, 7102);
    for (auto& f : be.fast) {
      const std::string what = shape_str(c.x) + " -> " + std::to_string(c.oh) + "x" + std::to_string(c.ow);
      expect_match(f->adaptive_avgpool_forward(x, c.oh, c.ow), be.ref->adaptive_avgpool_forward(x, c.oh, c.ow),
                   "adaptive " + what);
      expect_match(f->adaptive_avgpool_backward(gy, c.x), be.ref->adaptive_avgpool_backward(gy, c.x),
                   "adaptive backward " + what);
    }
  }
}

// The pool behind the threaded paths: every item runs exactly once, on a worker id below
// the thread count, over many consecutive runs; a nested run() runs inline.
TEST(FastPath, WorkerPoolRunsEveryItemOnce) {
  for (int threads : {2, 3}) {
    fast::WorkerPool pool(threads);
    ASSERT_EQ(pool.threads(), threads);
    for (int64_t n : {1, 2, 7, 1000}) {
      for (int rep = 0; rep < 20; ++rep) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad_worker{0};
        pool.run(n, [&](int64_t i, int worker) {
          hits[static_cast<size_t>(i)]++;
          if (worker < 0 || worker >= threads) bad_worker++;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "item " << i;
        ASSERT_EQ(bad_worker.load(), 0);
      }
    }
    std::atomic<int> inner{0};
    pool.run(4, [&](int64_t, int) { pool.run(5, [&](int64_t, int) { inner++; }); });
    EXPECT_EQ(inner.load(), 20);
  }
}

// The fast kernels reject what the reference rejects, with the same error type.
TEST(FastPath, RejectsMismatchedShapesLikeReference) {
  Backends be;
  const Tensor x = randf({2, 3, 5, 5}, 8001), w = randf({4, 3, 3, 3}, 8002), bad = randf({2, 4, 4, 4}, 8003);
  for (auto& f : be.fast) {
    EXPECT_THROW(f->conv2d_backward_data(bad, w, x.shape(), Conv2dParams{}), ShapeError);
    EXPECT_THROW(f->conv2d_backward_filter(x, bad, w.shape(), Conv2dParams{}), ShapeError);
    EXPECT_THROW(f->relu_backward(randf({7}, 8004), randf({2}, 8005)), ShapeError);
    EXPECT_THROW(f->add(x, bad), ShapeError);
  }
}

}  // namespace sv::test
