// Optim: SGD (momentum, weight decay) and Adam (bias correction, weight decay) against
// steps computed by hand from torch.optim's update rules (layers/optim.h), in float32
// and float64; zero_grad; parameters without a gradient are left alone.
#include "backends/factory.h"
#include "layers/optim.h"
#include "tests/gradcheck.h"

namespace sv::test {

namespace {
Param param(const std::vector<double>& value, const std::vector<double>& grad, DType dt) {
  const Shape s{static_cast<int64_t>(value.size())};
  return Param{"p", Tensor::from_vector(value, s).to(dt), Tensor::from_vector(grad, s).to(dt)};
}

void expect_values(const Param& p, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(p.value.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(p.value.item(i), expected[i], tol) << "element " << i;
}

double tolerance(DType dt) { return dt == DType::F32 ? 2e-6 : 1e-12; }
}  // namespace

// p = (1, -2), grad = (0.5, 0.25) on both steps, lr 0.1, momentum 0.9, weight decay 0.01:
//   step 1: g = (0.51, 0.23), buf = g, p = (0.949, -2.023)
//   step 2: g = (0.50949, 0.22977), buf = 0.9 * (0.51, 0.23) + g = (0.96849, 0.43677),
//           p = (0.852151, -2.066677)
TEST(Optim, SgdMomentumWeightDecayTwoSteps) {
  for (DType dt : {DType::F32, DType::F64}) {
    Param p = param({1.0, -2.0}, {0.5, 0.25}, dt);
    Sgd sgd({&p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
    sgd.step();
    expect_values(p, {0.949, -2.023}, tolerance(dt));
    sgd.step();
    expect_values(p, {0.852151, -2.066677}, tolerance(dt));
  }
}

// Without momentum: p -= lr * (grad + wd * p) = 3 - 0.5 * (1 + 0.1 * 3) = 2.35.
TEST(Optim, SgdPlain) {
  for (DType dt : {DType::F32, DType::F64}) {
    Param p = param({3.0}, {1.0}, dt);
    Sgd sgd({&p}, {.lr = 0.5, .weight_decay = 0.1});
    sgd.step();
    expect_values(p, {2.35}, tolerance(dt));
  }
}

// A constant gradient g makes Adam's bias-corrected moments exactly g and g^2, so each
// step moves p by lr * g / (|g| + eps): (1, -2) -> (0.9, -1.9) -> (0.8, -1.8) up to eps.
TEST(Optim, AdamBiasCorrectionConstantGradient) {
  for (DType dt : {DType::F32, DType::F64}) {
    Param p = param({1.0, -2.0}, {0.5, -0.25}, dt);
    Adam adam({&p}, {.lr = 0.1});
    adam.step();
    expect_values(p, {0.9, -1.9}, std::max(tolerance(dt), 1e-7));
    adam.step();
    expect_values(p, {0.8, -1.8}, std::max(tolerance(dt), 1e-7));
  }
}

// eps is added to sqrt(v_hat), outside the root: lr 0.1, g 0.5, eps 0.5 gives
// p -= 0.1 * 0.5 / (0.5 + 0.5) = 0.05 per step.
TEST(Optim, AdamEpsOutsideSquareRoot) {
  for (DType dt : {DType::F32, DType::F64}) {
    Param p = param({1.0}, {0.5}, dt);
    Adam adam({&p}, {.lr = 0.1, .eps = 0.5});
    adam.step();
    expect_values(p, {0.95}, tolerance(dt));
    adam.step();
    expect_values(p, {0.9}, tolerance(dt));
  }
}

// Weight decay joins the gradient (L2, not AdamW): g = 0 + 0.5 * 2 = 1, so step 1 is
// p = 2 - 0.1 * 1 / (1 + 1e-8). Step 2: g = 0.5 * p1, m = 0.9 * 0.1 + 0.1 * g,
// v = 0.999 * 0.001 + 0.001 * g^2, then the bias-corrected update.
TEST(Optim, AdamWeightDecayTwoSteps) {
  for (DType dt : {DType::F32, DType::F64}) {
    Param p = param({2.0}, {0.0}, dt);
    Adam adam({&p}, {.lr = 0.1, .weight_decay = 0.5});
    adam.step();
    const double p1 = 2.0 - 0.1 * 1.0 / (1.0 + 1e-8);
    expect_values(p, {p1}, tolerance(dt));
    adam.step();
    const double g = 0.5 * p1, m = 0.9 * 0.1 + 0.1 * g, v = 0.999 * 0.001 + 0.001 * g * g;
    const double m_hat = m / (1 - 0.9 * 0.9), v_hat = v / (1 - 0.999 * 0.999);
    expect_values(p, {p1 - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8)}, tolerance(dt));
  }
}

TEST(Optim, ZeroGradAndParamsWithoutGradientAreSkipped) {
  Param a = param({1.0}, {1.0}, DType::F64), b = param({5.0}, {1.0}, DType::F64);
  b.grad = Tensor();
  Sgd sgd({&a, &b}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  sgd.step();
  expect_values(a, {1.0 - 0.1 * 1.1}, 1e-12);
  expect_values(b, {5.0}, 0.0);
  sgd.zero_grad();
  EXPECT_FALSE(a.grad.defined());
  sgd.step();  // no gradients: nothing moves
  expect_values(a, {1.0 - 0.1 * 1.1}, 1e-12);

  Param c = param({1.0}, {1.0}, DType::F64);
  Adam adam({&c}, {});
  adam.zero_grad();
  EXPECT_FALSE(c.grad.defined());
  adam.step();
  expect_values(c, {1.0}, 0.0);
}

// With Graph::backward: a linear classifier on separable data (class = argmax of a fixed
// linear map), trained by SGD and by Adam from zero weights; the cross-entropy falls from
// ln 3 to a small fraction of it.
TEST(Optim, TrainsClassifierThroughGraphBackward) {
  auto be = make_cpu_backend();
  const Tensor x = randn({32, 2}, 1);
  Tensor l = Tensor::empty({32}, DType::I32);
  for (int64_t i = 0; i < 32; ++i) {
    const double a = x.item(2 * i), b = x.item(2 * i + 1);
    l.data<int32_t>()[i] = a > std::abs(b) ? 0 : (b > 0 ? 1 : 2);
  }
  for (bool use_adam : {false, true}) {
    Param w{"fc.weight", Tensor::zeros({3, 2}, DType::F64), {}}, b{"fc.bias", Tensor::zeros({3}, DType::F64), {}};
    Sgd sgd({&w, &b}, {.lr = 0.5, .momentum = 0.9, .weight_decay = 1e-4});
    Adam adam({&w, &b}, {.lr = 0.1, .weight_decay = 1e-4});
    double first = 0, last = 0;
    for (int step = 0; step < 150; ++step) {
      Graph g(*be);
      Var loss = cross_entropy(linear(g.input(x), g.param(w), g.param(b)), l);
      if (step == 0) first = loss.value.item();
      last = loss.value.item();
      g.backward(loss);
      if (use_adam) {
        adam.step();
        adam.zero_grad();
      } else {
        sgd.step();
        sgd.zero_grad();
      }
    }
    EXPECT_NEAR(first, std::log(3.0), 1e-12);
    EXPECT_LT(last, 0.25 * first) << (use_adam ? "Adam" : "SGD");
  }
}

}  // namespace sv::test
