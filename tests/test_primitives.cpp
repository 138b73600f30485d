// The research primitives: quadrature exactness, pooling, multi-output VJP equal to K
// separate passes, Jacobian rows, IG completeness and chunking, baselines; and parity with
// PyTorch on resnet18 (fixtures from tests/make_primitive_fixtures.py).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "apps/io/npy.h"
#include "apps/primitives.h"
#include "backends/factory.h"
#include "tests/tensor_compare.h"

namespace sv {
namespace {

const std::string kFixtures = std::string(SHAREDVIS_SOURCE_DIR) + "/tests/fixtures/primitives/";

Tensor randn(const Shape& s, uint64_t seed, DType dt = DType::F32) { return test::randn(s, seed, dt); }
using test::max_abs;
using test::normalized_error;

// A small CNN from our modules: conv(2->4, 3x3, pad 1) - bn - relu - conv(4->5, stride 2) - relu
// - flatten - linear(5*3*3 -> 6), in float64 for tight comparisons. Input (N, 2, 6, 6).
Model tiny_model(DType dt = DType::F64, bool with_relu = true) {
  Model m;
  m.info.arch = "tiny";
  m.info.in_channels = 2;
  m.info.input_size = m.info.resize_size = 6;
  m.info.mean = {0.5f, 0.25f};
  m.info.std = {0.5f, 0.125f};
  auto net = std::make_unique<Sequential>();
  Conv2dParams p1;
  p1.pad_h = p1.pad_w = 1;
  net->add("conv1", std::make_unique<Conv2d>(2, 4, 3, p1, true));
  net->add("bn1", std::make_unique<BatchNorm2d>(4));
  if (with_relu) net->add("relu1", std::make_unique<ReLU>());
  Conv2dParams p2;
  p2.stride_h = p2.stride_w = 2;
  p2.pad_h = p2.pad_w = 1;
  net->add("conv2", std::make_unique<Conv2d>(4, 5, 3, p2, false));
  if (with_relu) net->add("relu2", std::make_unique<ReLU>());
  net->add("flatten", std::make_unique<Flatten>());
  net->add("fc", std::make_unique<Linear>(5 * 3 * 3, 6));
  m.net = std::move(net);
  uint64_t seed = 11;
  for (auto& [name, p] : m.net->state()) p->value = randn(p->value.shape(), seed++, dt);
  auto* bn = static_cast<BatchNorm2d*>(m.net->child("bn1"));
  bn->running_var.value = Tensor::from_vector(std::vector<double>{0.5, 0.75, 1.0, 1.25}, {4}).to(dt);
  return m;
}

// resnet18 (10 classes) at 32x32 with the portable weights of seed 3, as in the fixtures.
Model resnet_fixture_model() {
  ModelInfo info;
  info.arch = "resnet18";
  info.num_classes = 10;
  info.input_size = info.resize_size = 32;
  Model m = make_model(info);
  init_portable(*m.net, 3);
  return m;
}

// ---- quadrature
TEST(Quadrature, GaussLegendreIsExactToDegree2nMinus1) {
  for (int n = 1; n <= 40; ++n) {
    std::vector<double> t, w;
    quadrature(IgRule::GaussLegendre, n, t, w);
    ASSERT_EQ(t.size(), static_cast<size_t>(n));
    double wsum = 0;
    for (int i = 0; i < n; ++i) {
      wsum += w[i];
      EXPECT_GT(t[i], 0.0);
      EXPECT_LT(t[i], 1.0);
      EXPECT_GT(w[i], 0.0);
      if (i) {
        EXPECT_LT(t[i - 1], t[i]);
      }
    }
    EXPECT_NEAR(wsum, 1.0, 1e-14) << n;
    // ∫_0^1 t^d dt = 1 / (d + 1): exact up to d = 2n - 1 (for x -> (2t-1), the same on [-1, 1]).
    for (int d = 0; d <= 2 * n - 1; ++d) {
      double q = 0;
      for (int i = 0; i < n; ++i) q += w[i] * std::pow(2 * t[i] - 1, d);
      const double exact = d % 2 ? 0.0 : 2.0 / (d + 1) / 2.0;
      EXPECT_NEAR(q, exact, 1e-13) << "n = " << n << ", degree " << d;
    }
    // ... and not beyond: degree 2n is integrated with an error (visible in double for small n).
    if (n > 10) continue;
    double q = 0;
    for (int i = 0; i < n; ++i) q += w[i] * std::pow(2 * t[i] - 1, 2 * n);
    EXPECT_GT(std::abs(q - 1.0 / (2 * n + 1)), 1e-10) << n;
  }
  std::vector<double> t, w;
  quadrature(IgRule::GaussLegendre, 500, t, w);
  double s = 0;
  for (double v : w) s += v;
  EXPECT_NEAR(s, 1.0, 1e-12);
}

TEST(Quadrature, MidpointTrapezoidAndErrors) {
  std::vector<double> t, w;
  quadrature(IgRule::Midpoint, 4, t, w);
  EXPECT_EQ(t, (std::vector<double>{0.125, 0.375, 0.625, 0.875}));
  EXPECT_EQ(w, (std::vector<double>(4, 0.25)));
  quadrature(IgRule::Trapezoid, 5, t, w);
  EXPECT_EQ(t, (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(w, (std::vector<double>{0.125, 0.25, 0.25, 0.25, 0.125}));
  EXPECT_THROW(quadrature(IgRule::GaussLegendre, 0, t, w), ValueError);
  EXPECT_THROW(quadrature(IgRule::Trapezoid, 1, t, w), ValueError);
  EXPECT_EQ(parse_ig_rule("midpoint"), IgRule::Midpoint);
  EXPECT_THROW(parse_ig_rule("simpson"), ValueError);
}

// ---- features and pooling
TEST(Features, PoolingOfFourAndTwoDimensionalLayers) {
  Model m = tiny_model();
  auto be = make_cpu_backend();
  const Tensor x = randn({3, 2, 6, 6}, 1, DType::F64);
  Graph g(*be, false);
  Forward fw(g, "conv2");
  m.net->forward(g.input(x), fw);
  const Tensor y = be->download(fw.captured().value);  // (3, 5, 3, 3)
  ASSERT_EQ(y.shape(), (Shape{3, 5, 3, 3}));
  const Tensor avg = features(m, *be, "conv2", Pool::Avg, x, 2);
  const Tensor mx = features(m, *be, "conv2", Pool::Max, x, 2);
  const Tensor none = features(m, *be, "conv2", Pool::None, x, 2);
  ASSERT_EQ(avg.shape(), (Shape{3, 5}));
  ASSERT_EQ(none.shape(), (Shape{3, 45}));
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 5; ++c) {
      double s = 0, hi = -INFINITY;
      for (int64_t i = 0; i < 9; ++i) {
        const double v = y.item((n * 5 + c) * 9 + i);
        s += v;
        hi = std::max(hi, v);
        EXPECT_NEAR(none.item(n * 45 + c * 9 + i), v, 1e-12);
      }
      EXPECT_NEAR(avg.item(n * 5 + c), s / 9, 1e-12);
      EXPECT_NEAR(mx.item(n * 5 + c), hi, 1e-12);
    }
  // A 2-D layer output is φ for every pooling.
  const Tensor fc = features(m, *be, "fc", Pool::Avg, x);
  EXPECT_EQ(fc.shape(), (Shape{3, 6}));
  EXPECT_LE(normalized_error(features(m, *be, "fc", Pool::Max, x), fc), 1e-15);
  EXPECT_LE(normalized_error(features(m, *be, "fc", Pool::None, x), fc), 1e-15);
  EXPECT_EQ(parse_pool("max"), Pool::Max);
  EXPECT_THROW(parse_pool("mean"), ValueError);
}

TEST(Features, UnknownLayerListsTheValidOnes) {
  Model m = tiny_model();
  auto be = make_cpu_backend();
  try {
    features(m, *be, "conv3", Pool::Avg, randn({1, 2, 6, 6}, 1, DType::F64));
    FAIL() << "no error for an unknown layer";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("conv1, bn1, relu1, conv2"), std::string::npos) << msg;
  }
  EXPECT_THROW(features(m, *be, "conv1", Pool::Avg, randn({1, 3, 6, 6}, 1, DType::F64)), ShapeError);
}

// ---- VJP
TEST(Vjp, KCotangentsInOnePassEqualKSeparatePasses) {
  Model m = tiny_model();
  auto be = make_cpu_backend();
  const Tensor x = randn({2, 2, 6, 6}, 2, DType::F64);
  const int64_t K = 5;
  const Tensor G = randn({K, 2, 5}, 3, DType::F64);
  const Tensor all = vjp(m, *be, "conv2", Pool::Avg, x, G, 0);
  ASSERT_EQ(all.shape(), (Shape{K, 2, 2, 6, 6}));
  for (int64_t max_k : {1, 2, 3, 64}) EXPECT_LE(normalized_error(vjp(m, *be, "conv2", Pool::Avg, x, G, max_k), all), 1e-15);
  for (int64_t k = 0; k < K; ++k) {
    const Tensor gk = G.slice0(k, k + 1).reshape({2, 5}).clone();
    const Tensor one = vjp(m, *be, "conv2", Pool::Avg, x, gk);
    ASSERT_EQ(one.shape(), (Shape{2, 2, 6, 6}));
    EXPECT_LE(normalized_error(one, all.slice0(k, k + 1).reshape(one.shape())), 1e-14) << k;
  }
}

TEST(Vjp, MatchesFiniteDifferences) {
  Model m = tiny_model();
  auto be = make_cpu_backend(true);
  Tensor x = randn({1, 2, 6, 6}, 4, DType::F64);
  const Tensor G = randn({1, 6}, 5, DType::F64);
  const Tensor s = vjp(m, *be, "fc", Pool::Avg, x, G);
  auto f = [&](const Tensor& xi) {
    const Tensor phi = features(m, *be, "fc", Pool::Avg, xi);
    double r = 0;
    for (int64_t d = 0; d < 6; ++d) r += phi.item(d) * G.item(d);
    return r;
  };
  for (int64_t i = 0; i < x.numel(); i += 7) {
    Tensor xp = x.clone(), xm = x.clone();
    xp.data<double>()[i] += 1e-6;
    xm.data<double>()[i] -= 1e-6;
    EXPECT_NEAR(s.item(i), (f(xp) - f(xm)) / 2e-6, 1e-6) << i;
  }
}

TEST(Vjp, CotangentShapeErrorsNameTheShapes) {
  Model m = tiny_model();
  auto be = make_cpu_backend();
  const Tensor x = randn({2, 2, 6, 6}, 2, DType::F64);
  try {
    vjp(m, *be, "conv2", Pool::Avg, x, randn({2, 7}, 1, DType::F64));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(2, 7)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(2, 5)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(vjp(m, *be, "conv2", Pool::Avg, x, randn({3, 5}, 1, DType::F64)), ShapeError);
  EXPECT_THROW(vjp(m, *be, "conv2", Pool::Avg, x, randn({5}, 1, DType::F64)), ShapeError);
}

TEST(Jacobian, RowsAreOneHotVjps) {
  Model m = tiny_model();
  auto be = make_cpu_backend();
  const Tensor x = randn({2, 2, 6, 6}, 6, DType::F64);
  const std::vector<int64_t> dims{0, 44, 17, 0};
  const Tensor J = jacobian(m, *be, "conv2", Pool::None, x, dims, 3);
  ASSERT_EQ(J.shape(), (Shape{4, 2, 2, 6, 6}));
  for (size_t k = 0; k < dims.size(); ++k) {
    Tensor e = Tensor::zeros({2, 45}, DType::F64);
    e.data<double>()[dims[k]] = e.data<double>()[45 + dims[k]] = 1;
    const Tensor row = vjp(m, *be, "conv2", Pool::None, x, e);
    EXPECT_LE(normalized_error(J.slice0(k, k + 1).reshape(row.shape()), row), 1e-15) << k;
  }
  try {
    jacobian(m, *be, "conv2", Pool::None, x, {3, 45});
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("dim 45 is out of range"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("D = 45"), std::string::npos) << e.what();
  }
  EXPECT_THROW(jacobian(m, *be, "conv2", Pool::None, x, {}), ValueError);
}

// ---- Integrated Gradients
TEST(IntegratedGradients, LinearModelIsExactForAnyRule) {
  // Without ReLUs φ is affine in x, so IG = (x − x̄) ⊙ ∇ and completeness holds exactly.
  Model m = tiny_model(DType::F64, false);
  auto be = make_cpu_backend();
  const Tensor x = randn({2, 2, 6, 6}, 7, DType::F64), G = randn({2, 6}, 8, DType::F64);
  const Tensor base = make_baseline("mean", x, m.info);
  const Tensor grad = vjp(m, *be, "fc", Pool::Avg, x, G);
  for (IgRule rule : {IgRule::GaussLegendre, IgRule::Midpoint, IgRule::Trapezoid}) {
    const Tensor S = integrated_gradients(m, *be, "fc", Pool::Avg, x, G, base, 3, rule);
    for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(S.item(i), (x.item(i) - base.item(i)) * grad.item(i), 1e-12);
    const auto gap =
        ig_completeness_gap(S, G, features(m, *be, "fc", Pool::Avg, x), features(m, *be, "fc", Pool::Avg, base));
    for (double v : gap) EXPECT_LT(v, 1e-12);
  }
}

TEST(IntegratedGradients, BatchingAndKStackingDoNotChangeTheResult) {
  Model m = tiny_model();
  auto be = make_cpu_backend();
  const Tensor x = randn({3, 2, 6, 6}, 9, DType::F64), G = randn({2, 3, 5}, 10, DType::F64);
  const Tensor base = make_baseline("zero", x, m.info);
  const Tensor ref = integrated_gradients(m, *be, "conv2", Pool::Max, x, G, base, 7, IgRule::GaussLegendre, 1000);
  ASSERT_EQ(ref.shape(), (Shape{2, 3, 2, 6, 6}));
  for (int64_t mb : {1, 2, 4, 5, 21})
    EXPECT_LE(normalized_error(integrated_gradients(m, *be, "conv2", Pool::Max, x, G, base, 7, IgRule::GaussLegendre, mb), ref),
              1e-13)
        << "max_batch " << mb;
  for (int64_t k = 0; k < 2; ++k) {
    const Tensor gk = G.slice0(k, k + 1).reshape({3, 5}).clone();
    const Tensor one = integrated_gradients(m, *be, "conv2", Pool::Max, x, gk, base, 7, IgRule::GaussLegendre, 4);
    EXPECT_LE(normalized_error(one, ref.slice0(k, k + 1).reshape(one.shape())), 1e-13) << k;
  }
  int64_t last = 0, total = 0;
  integrated_gradients(m, *be, "conv2", Pool::Max, x, G, base, 7, IgRule::GaussLegendre, 4, [&](int64_t d, int64_t t) {
    EXPECT_GT(d, last);
    last = d;
    total = t;
  });
  EXPECT_EQ(last, 21);
  EXPECT_EQ(total, 21);
  EXPECT_THROW(integrated_gradients(m, *be, "conv2", Pool::Max, x, G, randn({1, 2, 6, 6}, 1, DType::F64), 7,
                                    IgRule::GaussLegendre),
               ShapeError);
}

TEST(IntegratedGradients, CompletenessGapShrinksWithSteps) {
  // φ is piecewise linear (ReLU), so the integrand jumps where a unit switches along the path
  // and quadrature converges slowly, but it converges: the gap must fall with the steps.
  Model m = tiny_model();
  auto be = make_cpu_backend();
  const Tensor x = randn({2, 2, 6, 6}, 12, DType::F64), G = randn({2, 6}, 13, DType::F64);
  const Tensor base = make_baseline("zero", x, m.info);
  const Tensor fx = features(m, *be, "fc", Pool::Avg, x), fb = features(m, *be, "fc", Pool::Avg, base);
  std::vector<double> worst;
  for (int steps : {2, 32, 512}) {
    double w = 0;
    for (double v : ig_completeness_gap(
             integrated_gradients(m, *be, "fc", Pool::Avg, x, G, base, steps, IgRule::GaussLegendre, 512), G, fx, fb))
      w = std::max(w, v);
    worst.push_back(w);
    std::printf("steps %4d: worst completeness gap %.3e\n", steps, w);
  }
  EXPECT_LT(worst.back(), 1e-2);
  EXPECT_LT(worst.back(), worst.front() / 10);
}

// ---- baselines
TEST(Baseline, ZeroBlackMeanBlurAndFile) {
  Model m = tiny_model(DType::F32);
  const Tensor x = randn({2, 2, 6, 5}, 14);
  EXPECT_EQ(max_abs(make_baseline("zero", x, m.info)), 0.0);
  const Tensor black = make_baseline("black", x, m.info);
  EXPECT_FLOAT_EQ(black.item(0), -0.5f / 0.5f);
  EXPECT_FLOAT_EQ(black.item(30), -0.25f / 0.125f);
  EXPECT_FLOAT_EQ(black.item(90 + 29), -0.25f / 0.125f);
  const Tensor mean = make_baseline("mean", x, m.info);
  double s = 0;
  for (int64_t i = 30; i < 60; ++i) s += x.item(i);
  for (int64_t i = 30; i < 60; ++i) EXPECT_NEAR(mean.item(i), s / 30, 1e-6);
  // Blur of a constant plane is the constant; of an impulse a normalized Gaussian (σ = 10% of the width = 1 px here).
  Tensor c = Tensor::full({1, 1, 7, 10}, 3.0);
  for (int64_t i = 0; i < 70; ++i) EXPECT_NEAR(make_baseline("blur", c, m.info).item(i), 3.0, 1e-6);
  Tensor imp = Tensor::zeros({1, 1, 9, 10});
  imp.data<float>()[4 * 10 + 5] = 1;
  const Tensor b = make_baseline("blur", imp, m.info);
  double total = 0;
  for (int64_t i = 0; i < 90; ++i) total += b.item(i);
  EXPECT_NEAR(total, 1.0, 1e-6);
  EXPECT_NEAR(b.item(4 * 10 + 6) / b.item(4 * 10 + 5), std::exp(-0.5), 1e-5);
  EXPECT_NEAR(b.item(5 * 10 + 5) / b.item(4 * 10 + 5), std::exp(-0.5), 1e-5);

  const std::string dir = std::filesystem::temp_directory_path().string();
  const std::string one = dir + "/sv_baseline_" + std::to_string(::getpid()) + ".npy";
  write_npy(one, x.slice0(1, 2).clone());
  const Tensor fb = make_baseline(one, x, m.info);
  EXPECT_EQ(normalized_error(fb.slice0(0, 1), x.slice0(1, 2)), 0.0);
  EXPECT_EQ(normalized_error(fb.slice0(1, 2), x.slice0(1, 2)), 0.0);
  write_npy(one, randn({2, 2, 6, 6}, 1));
  EXPECT_THROW(make_baseline(one, x, m.info), ShapeError);
  std::filesystem::remove(one);
  EXPECT_THROW(make_baseline("gray", x, m.info), ValueError);
  EXPECT_THROW(make_baseline(dir + "/sv_no_such_baseline.npy", x, m.info), IoError);
}

// ---- PyTorch parity on resnet18 (float32 here, float64 in PyTorch)
TEST(TorchParity, IntegratedGradientsResnet18) {
  Model m = resnet_fixture_model();
  auto be = make_backend("auto");
  const Tensor x = read_npy(kFixtures + "x.npy"), G = read_npy(kFixtures + "ig_G.npy");
  const Tensor want = read_npy(kFixtures + "ig_expected.npy"), delta = read_npy(kFixtures + "ig_delta.npy");
  const Tensor base = make_baseline("zero", x, m.info);
  const Tensor S = integrated_gradients(m, *be, "layer3", Pool::Avg, x, G, base, 32, IgRule::GaussLegendre, 16);
  EXPECT_LE(normalized_error(S, want), 1e-3);
  const Tensor fx = features(m, *be, "layer3", Pool::Avg, x), fb = features(m, *be, "layer3", Pool::Avg, base);
  const auto gap = ig_completeness_gap(S, G, fx, fb);
  for (int64_t n = 0; n < 2; ++n) {
    double d = 0;
    for (int64_t i = 0; i < 256; ++i) d += G.item(n * 256 + i) * (fx.item(n * 256 + i) - fb.item(n * 256 + i));
    EXPECT_NEAR(d, delta.item(n), 1e-4 * std::abs(delta.item(n)) + 1e-5);
    EXPECT_LT(gap[n], 0.05) << "completeness gap of image " << n;
  }
}

TEST(TorchParity, KBatchedVjpResnet18) {
  Model m = resnet_fixture_model();
  auto be = make_backend("auto");
  const Tensor x = read_npy(kFixtures + "x.npy"), G = read_npy(kFixtures + "vjp_G.npy");
  EXPECT_LE(normalized_error(vjp(m, *be, "layer3", Pool::Avg, x, G, 2), read_npy(kFixtures + "vjp_expected.npy")), 1e-4);
}

TEST(TorchParity, JacobianRowsResnet18) {
  Model m = resnet_fixture_model();
  auto be = make_backend("auto");
  const Tensor x = read_npy(kFixtures + "x.npy");
  EXPECT_LE(normalized_error(jacobian(m, *be, "layer2", Pool::None, x, {0, 777, 2047}),
                    read_npy(kFixtures + "jac_layer2_expected.npy")),
            1e-4);
  EXPECT_LE(normalized_error(jacobian(m, *be, "fc", Pool::Avg, x, {0, 9}), read_npy(kFixtures + "jac_fc_expected.npy")), 1e-4);
}

}  // namespace
}  // namespace sv
