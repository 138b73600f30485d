// Winograd: the fast backend's F(2x2, 3x3) convolution (backends/cpu/fast_winograd.h)
// against the reference backend, float32 and float64, on 1, 2 and 3 threads: odd and even
// sizes, partial edge tiles, 1x1 and 2x2 images, paddings 0..2 (also unequal), bias or
// not, blocks that span images or cut one long tile row; the dispatch in conv2d_forward
// (which shapes take the path, and that they do); and the K-stacked stride-1 data gradient,
// which runs as a forward convolution and so through Winograd as well.
#include <cmath>
#include <memory>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/fast.h"
#include "backends/reference/reference.h"
#include "tests/gradcheck.h"

namespace sv::test {

namespace {

// |fast - ref| <= atol + rtol |ref| with atol relative to the largest |ref| (the transforms
// round sums of a few products of the scale of the outputs, not of each output).
double tolerance(DType dt) { return dt == DType::F32 ? 1e-4 : 1e-10; }

// Parallel settings with every minimum lowered, so that 2 and 3 threads really split
// (blocks side by side, or one block's steps over the threads).
struct Threads {
  std::unique_ptr<fast::WorkerPool> pool;
  fast::Parallel par;
  explicit Threads(int threads) {
    par.threads = threads;
    par.min_elements = 64;
    par.min_macs = 256;
    if (threads > 1) {
      pool = std::make_unique<fast::WorkerPool>(threads);
      par.pool = pool.get();
    }
  }
};

struct Case {
  Shape x;
  int64_t O;
  int pad_h, pad_w;
  bool bias;
};

std::string describe(const Case& c, DType dt, int threads) {
  return "x " + shape_str(c.x) + " O " + std::to_string(c.O) + " pad (" + std::to_string(c.pad_h) + "," +
         std::to_string(c.pad_w) + ")" + (c.bias ? " bias " : " ") + dtype_name(dt) + " " + std::to_string(threads) +
         " threads";
}

// conv2d_winograd against the reference (in float64 on the same values) for each case,
// without and with the fused ReLU.
void check_winograd(const std::vector<Case>& cases, DType dt, uint64_t seed) {
  for (const Case& c : cases) {
    seed += 10;
    const Tensor x = randn(c.x, seed, dt), w = randn({c.O, c.x[1], 3, 3}, seed + 1, dt);
    const Tensor b = c.bias ? randn({c.O}, seed + 2, dt) : Tensor();
    const Conv2dParams p = conv_params(1, 1, c.pad_h, c.pad_w);
    auto f64 = [](const Tensor& t) { return t.defined() ? t.to(DType::F64) : t; };
    const Tensor ref = ref::conv2d_forward(f64(x), f64(w), f64(b), p).to(dt);
    for (int threads : {1, 2, 3}) {
      Threads th(threads);
      EXPECT_LE(scaled_error(fast::conv2d_winograd(th.par, x, w, b, p), ref, tolerance(dt), tolerance(dt)), 1.0)
          << describe(c, dt, threads);
      EXPECT_LE(scaled_error(fast::conv2d_winograd(th.par, x, w, b, p, /*relu=*/true), ref::relu_forward(ref),
                             tolerance(dt), tolerance(dt)),
                1.0)
          << "with relu, " << describe(c, dt, threads);
    }
  }
}

// Small and odd shapes: every padding, 1x1 / 2x2 / odd / even images, channels below and
// above the dispatch threshold, N = 1..5.
std::vector<Case> small_cases() {
  std::vector<Case> cases;
  const int64_t sizes[][2] = {{1, 1}, {2, 2}, {1, 3}, {3, 2}, {5, 5}, {6, 6}, {7, 4}, {8, 9}, {13, 14}};
  const int64_t channels[][2] = {{1, 1}, {3, 5}, {8, 4}, {33, 32}, {40, 36}};
  int i = 0;
  for (const auto& hw : sizes)
    for (const auto& co : channels)
      for (int pad = 0; pad <= 2; ++pad) {
        ++i;
        const int pad_w = i % 4 == 0 ? (pad + 1) % 3 : pad;  // every fourth case: unequal padding
        if (hw[0] + 2 * pad < 3 || hw[1] + 2 * pad_w < 3) continue;
        cases.push_back({{1 + i % 5, co[0], hw[0], hw[1]}, co[1], pad, pad_w, i % 2 == 0});
      }
  return cases;
}

// Enough tiles for several blocks: blocks of whole tile rows spanning images, and tile rows
// too long for one block (cut into pieces).
std::vector<Case> blocked_cases() {
  return {{{5, 64, 7, 7}, 64, 1, 1, true},     {{3, 40, 14, 13}, 48, 1, 1, false},
          {{2, 40, 5, 501}, 36, 1, 1, true},  {{1, 32, 6, 301}, 32, 0, 2, false},
          {{4, 35, 28, 27}, 33, 2, 0, true}};
}
}  // namespace

TEST(Winograd, MatchesReferenceFloat32) {
  check_winograd(small_cases(), DType::F32, 100);
  check_winograd(blocked_cases(), DType::F32, 200);
}

TEST(Winograd, MatchesReferenceFloat64) {
  check_winograd(small_cases(), DType::F64, 300);
  check_winograd(blocked_cases(), DType::F64, 400);
}

// Which shapes conv2d_forward sends to Winograd.
TEST(Winograd, AppliesOnlyToQualifyingShapes) {
  fast::Parallel par;
  const Shape x{8, 64, 56, 56}, w{64, 64, 3, 3};
  EXPECT_TRUE(fast::winograd_applies(par, x, w, conv_params(1, 1, 1, 1)));
  EXPECT_TRUE(fast::winograd_applies(par, x, w, conv_params(1, 1, 0, 2)));
  EXPECT_TRUE(fast::winograd_applies(par, {16, 512, 7, 7}, {512, 512, 3, 3}, conv_params(1, 1, 1, 1)));
  EXPECT_FALSE(fast::winograd_applies(par, x, w, conv_params(1, 1, 3, 1)));
  Conv2dParams strided = conv_params(1, 1, 1, 1);
  strided.stride_w = 2;
  EXPECT_FALSE(fast::winograd_applies(par, x, w, strided));
  Conv2dParams dilated = conv_params(1, 1, 1, 1);
  dilated.dil_h = 2;
  EXPECT_FALSE(fast::winograd_applies(par, x, w, dilated));
  Conv2dParams grouped = conv_params(1, 1, 1, 1);
  grouped.groups = 2;
  EXPECT_FALSE(fast::winograd_applies(par, x, {64, 32, 3, 3}, grouped));
  EXPECT_FALSE(fast::winograd_applies(par, x, {64, 64, 5, 5}, conv_params(1, 1, 1, 1)));
  EXPECT_FALSE(fast::winograd_applies(par, x, {64, 64, 1, 1}, conv_params(1, 1, 0, 0)));
  EXPECT_FALSE(fast::winograd_applies(par, {8, 3, 56, 56}, {64, 3, 3, 3}, conv_params(1, 1, 1, 1)));  // too few channels
  EXPECT_FALSE(fast::winograd_applies(par, {8, 64, 56, 56}, {4, 64, 3, 3}, conv_params(1, 1, 1, 1)));
  EXPECT_TRUE(fast::winograd_applies(par, {2, 16, 5, 5}, {16, 16, 3, 3}, conv_params(1, 1, 1, 1)));  // the threshold
  EXPECT_FALSE(fast::winograd_applies(par, {2, 15, 5, 5}, {16, 15, 3, 3}, conv_params(1, 1, 1, 1)));
  EXPECT_FALSE(fast::winograd_applies(par, {2, 16, 5, 5}, {15, 16, 3, 3}, conv_params(1, 1, 1, 1)));
  par.winograd = false;
  EXPECT_FALSE(fast::winograd_applies(par, x, w, conv_params(1, 1, 1, 1)));
}

// The backend's conv2d_forward on a qualifying shape returns exactly conv2d_winograd's
// result, which differs (in the last bits) from the im2col path's; with winograd off it
// returns the im2col result. All three match the reference.
TEST(Winograd, BackendForwardTakesTheWinogradPath) {
  const Shape xs{3, 48, 10, 9};
  const Tensor x = randn(xs, 501, DType::F32), w = randn({40, 48, 3, 3}, 502, DType::F32),
               b = randn({40}, 503, DType::F32);
  const Conv2dParams p = conv_params(1, 1, 1, 1);
  const Tensor ref = ref::conv2d_forward(x.to(DType::F64), w.to(DType::F64), b.to(DType::F64), p).to(DType::F32);
  for (int threads : {1, 2}) {
    fast::Parallel on{threads, 64, 256}, off = on;
    off.winograd = false;
    ASSERT_TRUE(fast::winograd_applies(on, xs, w.shape(), p));
    CpuBackend be_on(on), be_off(off);
    const Tensor y_on = be_on.conv2d_forward(x, w, b, p), y_off = be_off.conv2d_forward(x, w, b, p);
    Threads th(threads);
    const Tensor y_wino = fast::conv2d_winograd(th.par, x, w, b, p);
    EXPECT_EQ(mixed_error(y_on, y_wino, 0, 0), 0.0) << threads << " threads: not the Winograd result";
    EXPECT_GT(mixed_error(y_on, y_off, 0, 0), 0.0) << threads << " threads: same bits as im2col";
    EXPECT_LE(scaled_error(y_on, ref, 1e-4, 1e-4), 1.0);
    EXPECT_LE(scaled_error(y_off, ref, 1e-4, 1e-4), 1.0);
  }
}

// The data gradient of a stride-1 3x3 conv with K = 16 cotangents stacked in the batch, through
// the fast backend (Winograd on and off), against the reference; float32 and float64.
TEST(Winograd, KStackedDataGradientThroughTheBackend) {
  struct GradCase {
    Shape x;
    int64_t O, K;
    int pad;
  };
  const GradCase cases[] = {{{1, 64, 7, 7}, 64, 16, 1}, {{2, 40, 9, 10}, 36, 3, 1}, {{1, 32, 6, 5}, 48, 5, 0},
                            {{1, 33, 4, 4}, 32, 4, 2}};
  uint64_t seed = 600;
  for (DType dt : {DType::F32, DType::F64})
    for (const GradCase& c : cases) {
      seed += 10;
      const Conv2dParams p = conv_params(1, 1, c.pad, c.pad);
      const Shape ws{c.O, c.x[1], 3, 3}, xk = fold_k(c.x, c.K);
      const Shape ys = conv2d_out_shape(xk, ws, p);
      const Tensor gy = randn(ys, seed, dt), w = randn(ws, seed + 1, dt);
      const Tensor ref = ref::conv2d_backward_data(gy.to(DType::F64), w.to(DType::F64), xk, p).to(dt);
      for (int threads : {1, 2, 3})
        for (bool winograd : {true, false}) {
          fast::Parallel par{threads, 64, 256};
          par.winograd = winograd;
          CpuBackend be(par);
          EXPECT_LE(scaled_error(be.conv2d_backward_data(gy, w, c.x, p, c.K), ref, tolerance(dt), tolerance(dt)), 1.0)
              << "x " << shape_str(xk) << " O " << c.O << " pad " << c.pad << " " << dtype_name(dt) << " " << threads
              << " threads, winograd " << winograd;
        }
    }
}

// An empty batch (also a K-stacked gradient of zero images) gives an empty result on any
// number of threads (the blocking once divided by zero tiles).
TEST(Winograd, EmptyBatch) {
  for (int threads : {1, 2, 3}) {
    Threads th(threads);
    const Tensor y = fast::conv2d_winograd(th.par, Tensor::empty({0, 16, 8, 8}), randn({16, 16, 3, 3}, 1, DType::F32),
                                           Tensor(), conv_params(1, 1, 1, 1));
    EXPECT_EQ(y.shape(), (Shape{0, 16, 8, 8})) << threads << " threads";
  }
}

}  // namespace sv::test
