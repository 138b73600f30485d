// MultiOutput: Graph::vjp with K stacked cotangents against K single-cotangent passes, on a
// small ResNet-style block  x -> conv-bn-relu (h) -> conv-bn -> + x -> relu -> maxpool,
// with eval-mode and train-mode batchnorm, on the reference and the fast CPU backends.
// K = 7 with max_k = 3 leaves a partial last chunk; chunked must equal unchunked, and the
// gradient with respect to the intermediate h must come out as well as the one for x.
#include "backends/factory.h"
#include "tests/gradcheck.h"

namespace sv::test {

namespace {
constexpr int64_t kK = 7, kMaxK = 3;
constexpr double kTol = 1e-11;  // float64; the passes differ only in summation order

struct Block {
  bool train_bn;
  Param w1{"conv1.weight", randn({6, 4, 3, 3}, 1, DType::F64, 0.3), {}};
  Param w2{"conv2.weight", randn({4, 6, 3, 3}, 2, DType::F64, 0.3), {}};
  Param g1{"bn1.weight", randn({6}, 3), {}}, b1{"bn1.bias", randn({6}, 4), {}};
  Param g2{"bn2.weight", randn({4}, 5), {}}, b2{"bn2.bias", randn({4}, 6), {}};
  Tensor rm1 = randn({6}, 7, DType::F64, 0.1), rv1 = Tensor::full({6}, 1.3, DType::F64);
  Tensor rm2 = randn({4}, 8, DType::F64, 0.1), rv2 = Tensor::full({4}, 0.7, DType::F64);

  Var bn(const Var& x, Param& gamma, Param& beta, Tensor& rm, Tensor& rv) const {
    if (train_bn) return batchnorm2d_train(x, x.graph->param(gamma), x.graph->param(beta), rm, rv, 1e-5, 0.1);
    Tensor a, c;
    batchnorm_fold(x.backend(), gamma.value, beta.value, rm, rv, 1e-5, a, c);
    return batchnorm2d_eval(x, a, c);
  }

  static Conv2dParams same() {
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    return p;
  }
  // x (2,4,9,9) -> h (2,6,9,9): conv-bn-relu
  Var first_half(Graph& g, const Var& x) { return relu(bn(conv2d(x, g.param(w1), Var{}, same()), g1, b1, rm1, rv1)); }
  // h, x -> y (2,4,5,5): conv-bn, + x, relu, maxpool
  Var second_half(Graph& g, const Var& h, const Var& x) {
    Var y = bn(conv2d(h, g.param(w2), Var{}, same()), g2, b2, rm2, rv2);
    Pool2dParams pool;
    pool.kernel_h = pool.kernel_w = 3;
    pool.stride_h = pool.stride_w = 2;
    pool.pad_h = pool.pad_w = 1;
    return maxpool2d(relu(add(y, x)), pool);
  }
  // Returns the block's output; sets h to the output of the first relu.
  Var forward(Graph& g, const Var& x, Var& h) {
    h = first_half(g, x);
    return second_half(g, h, x);
  }
};

// Row k of a (K, ...) tensor as a (1, ...) tensor.
Tensor row(const Tensor& t, int64_t k) { return t.slice0(k, k + 1).clone(); }

void check_block(bool reference, bool train_bn) {
  auto be = make_cpu_backend(reference);
  Block block{train_bn};
  const Tensor x0 = randn({2, 4, 9, 9}, 11);
  const std::string what = std::string(reference ? "reference" : "fast") + (train_bn ? ", train bn" : ", eval bn");

  Graph g(*be);
  Var x = g.input(x0), h;
  Var y = block.forward(g, x, h);
  Shape cs = y.shape();
  cs.insert(cs.begin(), kK);
  const Tensor cot = randn(cs, 12);

  std::vector<Tensor> all = g.vjp(y, cot, {x, h});
  std::vector<Tensor> chunked = g.vjp(y, cot, {x, h}, kMaxK);
  ASSERT_EQ(all.size(), 2u);
  for (int j = 0; j < 2; ++j) {
    ASSERT_EQ(all[j].dim(0), kK);
    EXPECT_CLOSE(chunked[j], all[j], kTol, kTol) << "chunked vs unchunked, wrt " << j << ", " << what;
  }

  for (int64_t k = 0; k < kK; ++k) {
    // the same graph, one cotangent
    std::vector<Tensor> one = g.vjp(y, row(cot, k), {x, h});
    // a fresh forward and backward pass for this cotangent alone
    Graph gk(*be);
    Var xk = gk.input(x0), hk;
    Var yk = block.forward(gk, xk, hk);
    std::vector<Tensor> fresh = gk.vjp(yk, row(cot, k), {xk, hk});
    for (int j = 0; j < 2; ++j) {
      EXPECT_CLOSE(row(all[j], k), one[j], kTol, kTol)
          << "K-stacked vs single vjp, k " << k << ", wrt " << j << ", " << what;
      EXPECT_CLOSE(row(all[j], k), fresh[j], kTol, kTol)
          << "K-stacked vs fresh pass, k " << k << ", wrt " << j << ", " << what;
    }
  }
}
}  // namespace

TEST(MultiOutput, StackedEqualsSeparatePassesEvalBatchNormReference) { check_block(true, false); }
TEST(MultiOutput, StackedEqualsSeparatePassesTrainBatchNormReference) { check_block(true, true); }
TEST(MultiOutput, StackedEqualsSeparatePassesEvalBatchNormFast) { check_block(false, false); }
TEST(MultiOutput, StackedEqualsSeparatePassesTrainBatchNormFast) { check_block(false, true); }

// The gradient with respect to the layer output h equals the gradient with respect to the
// same tensor fed as an input to the rest of the block (x held constant there).
TEST(MultiOutput, IntermediateGradientEqualsGradientOfRestOfNetwork) {
  for (bool train_bn : {false, true}) {
    auto be = make_cpu_backend(false);
    Block block{train_bn};
    const Tensor x0 = randn({2, 4, 9, 9}, 21);
    Graph g(*be);
    Var x = g.input(x0), h;
    Var y = block.forward(g, x, h);
    Shape cs = y.shape();
    cs.insert(cs.begin(), kK);
    const Tensor cot = randn(cs, 22);
    const Tensor gh = g.vjp(y, cot, {h}, kMaxK)[0];

    Graph rest(*be);
    Var hin = rest.input(h.value.clone());
    Var yr = block.second_half(rest, hin, rest.input(x0));
    const Tensor expected = rest.vjp(yr, cot, {hin})[0];
    EXPECT_CLOSE(gh, expected, kTol, kTol) << (train_bn ? "train bn" : "eval bn");
  }
}

}  // namespace sv::test
