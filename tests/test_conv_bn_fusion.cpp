// ConvBnFusion: conv2d followed by eval-mode batchnorm as one folded convolution
// (layers/conv_bn.cpp, Forward::call_steps). The op's gradients against central
// differences; the op against the unfused pair; whole ResNets fused against unfused
// (features and K-stacked vjps, float64 and float32), layer capture before and after the
// batchnorm, and the folded weights following parameter changes.
#include "backends/cpu/cpu_backend.h"
#include "backends/factory.h"
#include "layers/module.h"
#include "layers/optim.h"
#include "tests/gradcheck.h"
#include "apps/shape_probe.h"
#include "weights/model.h"

namespace sv::test {

namespace {
// A batchnorm's folded map with scales of both signs and away from 1.
void random_affine(int64_t C, uint64_t seed, Tensor& a, Tensor& c) {
  a = randn({C}, seed, DType::F64, 0.8);
  for (int64_t i = 0; i < C; ++i) a.data<double>()[i] += a.data<double>()[i] > 0 ? 0.3 : -0.3;
  c = randn({C}, seed + 1);
}

Model eval_resnet(const std::string& arch, DType dt, uint64_t seed) {
  ModelInfo info;
  info.arch = arch;
  info.num_classes = 10;
  info.input_size = info.resize_size = 32;
  Model m = make_model(info);
  init_portable(*m.net, seed);  // random batchnorm statistics and affine parameters too
  for (auto& [name, p] : m.net->state()) p->value = p->value.to(dt);
  return m;
}

// The output of `layer` (and the graph's size), fused or not.
Var run_to(Model& m, Graph& g, const Var& x, const std::string& layer, bool fuse) {
  Forward fw(g, layer, fuse);
  Var y = m.net->forward(x, fw);
  EXPECT_TRUE(fw.done()) << layer;
  return fw.captured();
}
}  // namespace

TEST(ConvBnFusion, GradientsOfTheFoldedOpMatchFiniteDifferences) {
  for (bool bias : {true, false}) {
    for (int groups : {1, 2}) {
      const Conv2dParams p = square_conv(2, 1, 1, groups);
      Tensor a, c;
      random_affine(4, 30 + groups, a, c);
      std::vector<Tensor> inputs{randn({2, 4, 5, 6}, 31), randn({4, 4 / groups, 3, 3}, 32)};
      if (bias) inputs.push_back(randn({4}, 33));
      gradcheck(
          [&](Graph& g, const std::vector<Var>& v) {
            Tensor wf, bf;
            conv_bn_fold(g.backend(), v[1].value, bias ? v[2].value : Tensor(), a, c, wf, bf);
            return conv2d_bn_eval(v[0], v[1], bias ? v[2] : Var{}, a, wf, bf, p);
          },
          inputs);
    }
  }
}

TEST(ConvBnFusion, TheFoldedOpEqualsConvThenBatchnormThenRelu) {
  for (auto [reference, with_relu] : {std::pair{true, false}, {true, true}, {false, false}, {false, true}}) {
    const DType dt = reference ? DType::F64 : DType::F32;
    const double rtol = reference ? 1e-12 : 2e-5;
    auto be = make_cpu_backend(reference);
    const Conv2dParams p = square_conv(1, 1);
    Tensor a, c;
    random_affine(6, 40, a, c);
    a = a.to(dt);
    c = c.to(dt);
    Tensor x = randn({3, 5, 7, 8}, 41, dt), w = randn({6, 5, 3, 3}, 42, dt), b = randn({6}, 43, dt);

    Graph g1(*be);
    Var x1 = g1.input(x, true), w1 = g1.input(w, true), b1 = g1.input(b, true);
    Var y1 = batchnorm2d_eval(conv2d(x1, w1, b1, p), a, c);
    if (with_relu) y1 = relu(y1);
    Graph g2(*be);
    Var x2 = g2.input(x, true), w2 = g2.input(w, true), b2 = g2.input(b, true);
    Tensor wf, bf;
    conv_bn_fold(*be, w, b, a, c, wf, bf);
    Var y2 = conv2d_bn_eval(x2, w2, b2, a, wf, bf, p, with_relu);
    SCOPED_TRACE(std::string(reference ? "reference" : "fast") + (with_relu ? ", relu" : ""));
    EXPECT_CLOSE(y2.value, y1.value, rtol * max_abs(y1.value), rtol);
    if (with_relu) {
      int64_t zeros = 0;
      for (int64_t i = 0; i < y2.value.numel(); ++i) zeros += y2.value.item(i) == 0.0;
      EXPECT_GT(zeros, y2.value.numel() / 5) << "the relu clipped about half the outputs";
    }

    Shape ks = y1.shape();
    ks.insert(ks.begin(), 3);
    Tensor cot = randn(ks, 44, dt);  // K = 3 for x
    Tensor gx1 = g1.vjp(y1, cot, {x1})[0], gx2 = g2.vjp(y2, cot, {x2})[0];
    EXPECT_CLOSE(gx2, gx1, rtol * max_abs(gx1), rtol) << "K = 3 input gradients";
    {  // the backward folds again instead of holding w' (the GPU's way)
      Graph g3(*be);
      Var x3 = g3.input(x, true), w3 = g3.input(w, true), b3 = g3.input(b, true);
      Var y3 = conv2d_bn_eval(x3, w3, b3, a, wf, bf, p, with_relu, /*keep_folded=*/false);
      std::vector<Tensor> r3 = g3.vjp(y3, cot, {x3});
      EXPECT_CLOSE(r3[0], gx2, 1e-300, 0.0) << "keep_folded = false: the same input gradients";
    }
    Tensor cot1 = cot.slice0(0, 1);  // K = 1 for the parameters
    std::vector<Tensor> p1 = g1.vjp(y1, cot1, {w1, b1}), p2 = g2.vjp(y2, cot1, {w2, b2});
    EXPECT_CLOSE(p2[0], p1[0], rtol * max_abs(p1[0]), rtol) << "weight gradient";
    EXPECT_CLOSE(p2[1], p1[1], rtol * max_abs(p1[1]), rtol) << "bias gradient";
  }
}

TEST(ConvBnFusion, WholeResnetsFusedEqualUnfused) {
  for (const std::string arch : {"resnet18", "resnet50"}) {
    for (bool reference : {true, false}) {
      if (reference && arch == "resnet50") continue;  // the plain loops take seconds there
      const DType dt = reference ? DType::F64 : DType::F32;
      const double rtol = reference ? 1e-10 : 1e-4;
      Model m = eval_resnet(arch, dt, 5);
      auto be = make_cpu_backend(reference);
      m.net->to(*be);
      Tensor x = randn({2, 3, 32, 32}, 50, dt);
      Graph gu(*be), gf(*be);
      Var xu = gu.input(x, true), xf = gf.input(x, true);
      Var yu = run_to(m, gu, xu, "layer4", false), yf = run_to(m, gf, xf, "layer4", true);
      // Each fused conv + batchnorm saves the batchnorm's entry, each fused relu its own:
      // resnet18 has 20 convs (each followed by a batchnorm) and 9 relus right after one
      // (the stem's, the first of each block); resnet50 53 and 33 (two per block). Each
      // block's sum and relu are one add_relu: 8 blocks in resnet18, 16 in resnet50.
      const size_t saved = arch == "resnet18" ? 20 + 9 + 8 : 53 + 33 + 16;
      EXPECT_EQ(gu.size() - gf.size(), saved)
          << arch << ": every conv + batchnorm (+ relu) and every block's add + relu ran as one op";
      const std::string tag = arch + (reference ? " float64" : " float32");
      EXPECT_CLOSE(yf.value, yu.value, rtol * max_abs(yu.value), rtol) << tag << " features";
      Shape ks = yu.shape();
      ks.insert(ks.begin(), 3);
      Tensor cot = randn(ks, 51, dt);
      Tensor gu_x = gu.vjp(yu, cot, {xu})[0], gf_x = gf.vjp(yf, cot, {xf})[0];
      EXPECT_CLOSE(gf_x, gu_x, rtol * max_abs(gu_x), rtol) << tag << " vjp K = 3";
    }
  }
}

TEST(ConvBnFusion, LayersBeforeAndAfterTheBatchnormCanBeCaptured) {
  Model m = eval_resnet("resnet18", DType::F64, 6);
  auto be = make_cpu_backend(true);
  Tensor x = randn({1, 3, 32, 32}, 60);
  // conv1/bn1/relu: the stem's run; layer1.0.relu: a block's shared relu (its first call);
  // downsample: a Sequential's run without a relu.
  for (const std::string layer : {"conv1", "bn1", "relu", "maxpool", "layer1.0.conv1", "layer1.0.bn1",
                                   "layer1.0.relu", "layer1.0.conv2", "layer1.0.bn2", "layer2.0.downsample.0",
                                   "layer2.0.downsample.1", "layer2.0.bn2", "layer3", "fc"}) {
    Graph gu(*be, false), gf(*be, false);
    Var yu = run_to(m, gu, gu.input(x), layer, false), yf = run_to(m, gf, gf.input(x), layer, true);
    ASSERT_EQ(yf.shape(), yu.shape()) << layer;
    EXPECT_CLOSE(yf.value, yu.value, 1e-12, 1e-10) << layer;
  }
  // The conv's own output is the pre-batchnorm value: different from the batchnorm's.
  Graph g1(*be, false), g2(*be, false);
  Tensor pre = run_to(m, g1, g1.input(x), "layer1.0.conv1", true).value;
  Tensor post = run_to(m, g2, g2.input(x), "layer1.0.bn1", true).value;
  EXPECT_GT(std::abs(pre.item(0) - post.item(0)) + std::abs(pre.item(7) - post.item(7)), 1e-3);
}

TEST(ConvBnFusion, FoldedWeightsFollowParameterChanges) {
  Model m = eval_resnet("resnet18", DType::F64, 7);
  auto be = make_cpu_backend(true);
  Tensor x = randn({2, 3, 32, 32}, 70);
  auto features = [&](bool fuse) {
    Graph g(*be, false);
    return run_to(m, g, g.input(x), "layer1", fuse).value;
  };
  Tensor before = features(true);
  // An optimizer step in eval mode (frozen batchnorm, trained convs) changes conv weights in place.
  {
    Graph g(*be);
    Forward fw(g);
    Var loss = mean(m.net->forward(g.input(x), fw));
    g.backward(loss);
    std::vector<Param*> ps = m.net->parameters();
    Sgd sgd(ps, {.lr = 0.5});
    sgd.step();
  }
  Tensor after = features(true);
  EXPECT_CLOSE(after, features(false), 1e-12, 1e-10) << "after an SGD step";
  EXPECT_GT(mixed_error(after, before, 1e-9, 1e-6), 1.0) << "the step changed the features";
  // New batchnorm statistics, as a load or a training epoch leaves them, with invalidate().
  auto* bn = static_cast<BatchNorm2d*>(m.net->child("layer1")->child("0")->child("bn1"));
  for (int64_t i = 0; i < bn->running_var.value.numel(); ++i) bn->running_var.value.data<double>()[i] *= 3.0;
  bn->invalidate();
  EXPECT_CLOSE(features(true), features(false), 1e-12, 1e-10) << "after new running statistics";
  Tensor with_stats = features(true);
  EXPECT_GT(mixed_error(with_stats, after, 1e-9, 1e-6), 1.0);
  // A batchnorm's gamma changed in place, as an optimizer does (it bumps the version).
  for (int64_t i = 0; i < bn->weight.value.numel(); ++i) bn->weight.value.data<double>()[i] *= -0.5;
  ++bn->weight.version;
  EXPECT_CLOSE(features(true), features(false), 1e-12, 1e-10) << "after an in-place change of gamma";
  EXPECT_GT(mixed_error(features(true), with_stats, 1e-9, 1e-6), 1.0);
}

// The shape probe runs the model on a backend whose values are garbage: nothing it makes may
// be cached for later real passes (it once left garbage folded weights behind).
TEST(ConvBnFusion, AShapeProbeLeavesNoStaleFoldedWeights) {
  Model m = eval_resnet("resnet18", DType::F32, 8);
  std::vector<LayerShape> shapes = layer_output_shapes(m, {1, 3, 32, 32});
  ASSERT_FALSE(shapes.empty());
  auto be = make_cpu_backend(false);
  Tensor x = randn({1, 3, 32, 32}, 80, DType::F32);
  Graph gf(*be, false), gu(*be, false);
  Tensor f = run_to(m, gf, gf.input(x), "layer2", true).value, u = run_to(m, gu, gu.input(x), "layer2", false).value;
  EXPECT_CLOSE(f, u, 1e-4 * max_abs(u), 1e-4);
}

}  // namespace sv::test
