// GradCheck: the backward of every op in layers/ops.h against central finite differences
// in float64 (tests/gradcheck.h), over several shapes including odd ones. Inputs of ReLU
// and max-pool are constructed away from their kinks; tolerances are the tight defaults.
#include "backends/factory.h"
#include "tests/gradcheck.h"

namespace sv::test {

namespace {
constexpr double kH = 1e-6;  // the finite-difference step of gradcheck()

// conv2d(x, w, b) with all three as gradient targets (or x, w without bias).
void check_conv(const Shape& xs, const Shape& ws, const Conv2dParams& p, bool bias, bool reference = true) {
  std::vector<Tensor> in{randn(xs, 11), randn(ws, 12)};
  if (bias) in.push_back(randn({ws[0]}, 13));
  gradcheck([&](Graph&, const std::vector<Var>& v) { return conv2d(v[0], v[1], bias ? v[2] : Var{}, p); }, in, kH, 1e-7,
            1e-5, 7, reference);
}

Tensor labels(const std::vector<int32_t>& l) {
  Tensor t = Tensor::empty({static_cast<int64_t>(l.size())}, DType::I32);
  std::copy(l.begin(), l.end(), t.data<int32_t>());
  return t;
}
}  // namespace

TEST(GradCheck, Conv2dStridePaddingBias) {
  check_conv({2, 3, 7, 6}, {4, 3, 3, 3}, conv_params(2, 1, 1, 2), true);
  check_conv({1, 2, 5, 9}, {3, 2, 2, 4}, conv_params(1, 3, 0, 1), true);
}

TEST(GradCheck, Conv2dDilationWithoutBias) {
  check_conv({1, 2, 9, 8}, {3, 2, 3, 2}, conv_params(1, 1, 2, 1, 2, 3), false);
  check_conv({2, 1, 8, 7}, {2, 1, 3, 3}, conv_params(2, 2, 1, 1, 2, 2), false);
}

TEST(GradCheck, Conv2dGroupsAndDepthwise) {
  check_conv({2, 6, 5, 7}, {4, 3, 3, 3}, conv_params(2, 2, 1, 1, 1, 1, 2), true);
  check_conv({1, 4, 6, 5}, {8, 1, 3, 3}, conv_params(1, 1, 1, 1, 1, 1, 4), false);
}

TEST(GradCheck, Conv2dPointwiseAndStemLike) {
  check_conv({2, 5, 4, 3}, {3, 5, 1, 1}, conv_params(1, 1, 0, 0), true);
  check_conv({1, 3, 11, 13}, {2, 3, 7, 7}, conv_params(2, 2, 3, 3), false);
}

TEST(GradCheck, Conv2dFastBackendFloat64) {
  check_conv({3, 4, 6, 7}, {6, 2, 3, 3}, conv_params(2, 1, 1, 1, 1, 2, 2), true, false);
  check_conv({2, 4, 6, 7}, {6, 2, 3, 3}, conv_params(1, 1, 1, 2, 1, 2, 2), false,
             false);  // stride 1: the flipped-kernel path
  check_conv({2, 5, 4, 3}, {3, 5, 1, 1}, conv_params(1, 1, 0, 0), false, false);
}

TEST(GradCheck, BatchNormEval) {
  for (const Shape& xs : {Shape{2, 3, 4, 5}, Shape{3, 4}}) {
    const int64_t C = xs[1];
    Tensor a = randn({C}, 21), c = randn({C}, 22);
    gradcheck([&](Graph&, const std::vector<Var>& v) { return batchnorm2d_eval(v[0], a, c); }, {randn(xs, 23)});
  }
}

TEST(GradCheck, BatchNormTrainInputGammaBeta) {
  for (const Shape& xs : {Shape{3, 4, 3, 5}, Shape{2, 2, 1, 3}, Shape{5, 3}}) {
    const int64_t C = xs[1];
    gradcheck(
        [&](Graph&, const std::vector<Var>& v) {
          Tensor rm = Tensor::zeros({C}, DType::F64), rv = Tensor::full({C}, 1.0, DType::F64);
          return batchnorm2d_train(v[0], v[1], v[2], rm, rv, 1e-5, 0.1);
        },
        {randn(xs, 31, DType::F64, 2.0), randn({C}, 32), randn({C}, 33)});
  }
}

TEST(GradCheck, ReluAwayFromZero) {
  for (const Shape& xs : {Shape{2, 3, 5, 4}, Shape{7, 3}}) {
    Tensor x = randn_away_from_zero(xs, 41, 10 * kH);
    gradcheck([](Graph&, const std::vector<Var>& v) { return relu(v[0]); }, {x});
  }
}

// relu(a + b) in one op: the gradient reaches both inputs (kinks kept away from a + b = 0).
TEST(GradCheck, AddReluAwayFromZero) {
  const Shape xs{2, 3, 5, 4};
  const Tensor s = randn_away_from_zero(xs, 42, 10 * kH), a = randn(xs, 43);
  Tensor b = Tensor::empty(xs, DType::F64);
  for (int64_t i = 0; i < b.numel(); ++i) b.data<double>()[i] = s.item(i) - a.item(i);  // a + b = s
  gradcheck([](Graph&, const std::vector<Var>& v) { return add_relu(v[0], v[1]); }, {a, b});
}

TEST(GradCheck, MaxPoolPaddingCeilMode) {
  const Pool2dParams cases[] = {pool_params(3, 3, 2, 2, 1, 1, false), pool_params(3, 3, 2, 2, 1, 1, true),
                                pool_params(2, 3, 2, 2, 1, 0, true), pool_params(2, 2, 1, 3, 0, 1, false)};
  for (const Pool2dParams& p : cases) {
    Tensor x = distinct_values({2, 3, 7, 8}, 51);
    gradcheck([&](Graph&, const std::vector<Var>& v) { return maxpool2d(v[0], p); }, {x});
  }
}

TEST(GradCheck, AvgPoolCountIncludePadAndCeilMode) {
  for (bool include_pad : {true, false})
    for (bool ceil_mode : {false, true}) {
      const Pool2dParams cases[] = {pool_params(3, 3, 2, 2, 1, 1, ceil_mode, include_pad),
                                    pool_params(2, 3, 2, 1, 1, 1, ceil_mode, include_pad)};
      for (const Pool2dParams& p : cases)
        gradcheck([&](Graph&, const std::vector<Var>& v) { return avgpool2d(v[0], p); }, {randn({2, 2, 7, 6}, 61)});
    }
}

TEST(GradCheck, AdaptiveAvgPoolUnevenBins) {
  struct Case {
    Shape x;
    int oh, ow;
  };
  for (const Case& c :
       {Case{{1, 2, 10, 9}, 7, 7}, Case{{2, 3, 5, 6}, 1, 1}, Case{{1, 2, 8, 7}, 3, 5}, Case{{1, 1, 3, 2}, 7, 7}})
    gradcheck([&](Graph&, const std::vector<Var>& v) { return adaptive_avgpool2d(v[0], c.oh, c.ow); },
              {randn(c.x, 71)});
}

TEST(GradCheck, GlobalPools) {
  gradcheck([](Graph&, const std::vector<Var>& v) { return global_avgpool(v[0]); }, {randn({2, 3, 5, 4}, 81)});
  gradcheck([](Graph&, const std::vector<Var>& v) { return global_maxpool(v[0]); },
            {distinct_values({2, 3, 5, 4}, 82)});
}

TEST(GradCheck, LinearWithAndWithoutBias) {
  gradcheck([](Graph&, const std::vector<Var>& v) { return linear(v[0], v[1], v[2]); },
            {randn({3, 5}, 91), randn({4, 5}, 92), randn({4}, 93)});
  gradcheck([](Graph&, const std::vector<Var>& v) { return linear(v[0], v[1], Var{}); },
            {randn({1, 7}, 94), randn({2, 7}, 95)});
}

TEST(GradCheck, FlattenAndReshape) {
  Tensor m = randn({2, 6, 2}, 101);
  gradcheck(
      [&](Graph&, const std::vector<Var>& v) {
        return mul(reshape(v[0], {2, 6, 2}), m);
      },
      {randn({2, 3, 2, 2}, 102)});
  gradcheck([](Graph&, const std::vector<Var>& v) { return linear(flatten(v[0]), v[1], Var{}); },
            {randn({2, 3, 2, 2}, 103), randn({3, 12}, 104)});
}

TEST(GradCheck, AddScaleMul) {
  Tensor m = randn({2, 3, 4}, 111);
  gradcheck([](Graph&, const std::vector<Var>& v) { return add(v[0], v[1]); },
            {randn({2, 3, 4}, 112), randn({2, 3, 4}, 113)});
  gradcheck([](Graph&, const std::vector<Var>& v) { return add(v[0], scale(v[0], -1.7)); }, {randn({3, 5}, 114)});
  gradcheck([&](Graph&, const std::vector<Var>& v) { return mul(v[0], m); }, {randn({2, 3, 4}, 115)});
}

TEST(GradCheck, DropoutEvalIsIdentityTrainingUsesFixedMask) {
  gradcheck([](Graph&, const std::vector<Var>& v) { return dropout(v[0], 0.4, 5); }, {randn({3, 4}, 121)});
  gradcheck(
      [](Graph& g, const std::vector<Var>& v) {
        g.set_training(true);
        return dropout(v[0], 0.4, 5);
      },
      {randn({3, 4, 2, 2}, 122)});
}

TEST(GradCheck, SumMean) {
  gradcheck([](Graph&, const std::vector<Var>& v) { return sum(v[0]); }, {randn({2, 3, 4}, 131)});
  gradcheck([](Graph&, const std::vector<Var>& v) { return mean(v[0]); }, {randn({5, 3}, 132)});
}

TEST(GradCheck, CrossEntropy) {
  Tensor l = labels({2, 0, 4, 4});
  gradcheck([&](Graph&, const std::vector<Var>& v) { return cross_entropy(v[0], l); }, {randn({4, 5}, 141)});
  gradcheck([&](Graph&, const std::vector<Var>& v) { return cross_entropy(linear(v[0], v[1], v[2]), l); },
            {randn({4, 3}, 142), randn({5, 3}, 143), randn({5}, 144)});
}

// Graph::backward accumulates d loss / d p into Param::grad: checked against finite
// differences of the loss, and a second backward over the same graph doubles it.
TEST(GradCheck, ParamGradientsAccumulateThroughBackward) {
  for (bool reference : {true, false}) {
    auto be = make_cpu_backend(reference);
    Param w{"conv.weight", randn({4, 3, 3, 3}, 151), {}}, b{"conv.bias", randn({4}, 152), {}};
    Param gamma{"bn.weight", randn({4}, 153), {}}, beta{"bn.bias", randn({4}, 154), {}};
    Param fc{"fc.weight", randn({3, 4 * 2 * 2}, 155), {}};
    std::vector<Param*> params{&w, &b, &gamma, &beta, &fc};
    const Tensor x = randn({2, 3, 5, 5}, 156), l = labels({1, 2});
    auto loss = [&](Graph& g) {
      Tensor rm = Tensor::zeros({4}, DType::F64), rv = Tensor::full({4}, 1.0, DType::F64);
      Var y = conv2d(g.input(x), g.param(w), g.param(b), conv_params(1, 1, 1, 1));
      y = batchnorm2d_train(y, g.param(gamma), g.param(beta), rm, rv, 1e-5, 0.1);
      y = avgpool2d(y, pool_params(3, 3, 2, 2, 0, 0, false));
      return cross_entropy(linear(flatten(y), g.param(fc), Var{}), l);
    };
    Graph g(*be);
    Var L = loss(g);
    g.backward(L);
    for (Param* p : params) {
      Tensor num = Tensor::zeros(p->value.shape(), DType::F64);
      for (int64_t i = 0; i < p->value.numel(); ++i) {
        double f[2];
        for (int s = 0; s < 2; ++s) {
          const double saved = p->value.data<double>()[i];
          p->value.data<double>()[i] = saved + (s == 0 ? kH : -kH);
          Graph gi(*be, false);
          f[s] = loss(gi).value.item();
          p->value.data<double>()[i] = saved;
        }
        num.data<double>()[i] = (f[0] - f[1]) / (2 * kH);
      }
      ASSERT_TRUE(p->grad.defined()) << p->name;
      EXPECT_CLOSE(p->grad, num, 1e-7, 1e-5) << p->name << " reference=" << reference;
    }
    std::vector<Tensor> first;
    for (Param* p : params) first.push_back(p->grad.clone());
    g.backward(L);
    for (size_t j = 0; j < params.size(); ++j)
      for (int64_t i = 0; i < first[j].numel(); ++i)
        ASSERT_EQ(params[j]->grad.item(i), 2 * first[j].item(i)) << params[j]->name << " element " << i;
  }
}

}  // namespace sv::test
