// GradCheck: gradients of compositions and graph mechanics against central finite
// differences in float64 (tests/gradcheck.h): global pools, reshapes, a variable used
// twice, dropout, a loss through a linear layer, and Param gradients through backward().
// Every single Backend op is gradient-checked, on the reference and the fast path, by
// the op table of tests/test_backend_ops.cpp.
#include "backends/factory.h"
#include "tests/gradcheck.h"

namespace sv::test {

namespace {
constexpr double kH = 1e-6;  // the finite-difference step of gradcheck()

Tensor labels(const std::vector<int32_t>& l) {
  Tensor t = Tensor::empty({static_cast<int64_t>(l.size())}, DType::I32);
  std::copy(l.begin(), l.end(), t.data<int32_t>());
  return t;
}
}  // namespace

TEST(GradCheck, GlobalPools) {
  gradcheck([](Graph&, const std::vector<Var>& v) { return global_avgpool(v[0]); }, {randn({2, 3, 5, 4}, 81)});
  gradcheck([](Graph&, const std::vector<Var>& v) { return global_maxpool(v[0]); },
            {distinct_values({2, 3, 5, 4}, 82)});
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

// A variable used twice: both paths' gradients add up.
TEST(GradCheck, VariableUsedTwice) {
  gradcheck([](Graph&, const std::vector<Var>& v) { return add(v[0], scale(v[0], -1.7)); }, {randn({3, 5}, 114)});
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

TEST(GradCheck, CrossEntropyThroughLinear) {
  Tensor l = labels({2, 0, 4, 4});
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
