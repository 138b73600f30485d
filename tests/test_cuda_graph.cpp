// CudaGraph: a small ResNet-style network (stem conv + bias, batchnorm, relu, max pool,
// two residual blocks, one with a strided 1x1 downsample, adaptive average pool, linear)
// run on the CUDA backend and on the CPU reference with the same float32 weights:
// the forward values, a multi-output vjp (K cotangents, chunked by max_k) with respect to
// the input and an intermediate layer, and a train-mode step (batch statistics,
// cross-entropy, parameter gradients, running statistics) must agree.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "backends/factory.h"
#include "layers/module.h"
#include "tests/gradcheck.h"
#ifdef SHAREDVIS_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace sv::test {
namespace {

// torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x))
class Block : public Module {
 public:
  Block(int in, int out, int stride) {
    add("conv1", std::make_unique<Conv2d>(in, out, 3, square_conv(stride, 1), false));
    add("bn1", std::make_unique<BatchNorm2d>(out));
    add("conv2", std::make_unique<Conv2d>(out, out, 3, square_conv(1, 1), false));
    add("bn2", std::make_unique<BatchNorm2d>(out));
    if (stride != 1 || in != out) {
      auto ds = std::make_unique<Sequential>();
      ds->push(std::make_unique<Conv2d>(in, out, 1, square_conv(stride, 0), false));
      ds->push(std::make_unique<BatchNorm2d>(out));
      add("downsample", std::move(ds));
    }
  }
  Var forward(const Var& x, Forward& fw) override {
    Var y = relu(fw.call(*child("bn1"), "bn1", fw.call(*child("conv1"), "conv1", x)));
    y = fw.call(*child("bn2"), "bn2", fw.call(*child("conv2"), "conv2", y));
    Var s = child("downsample") ? fw.call(*child("downsample"), "downsample", x) : x;
    return relu(sv::add(y, s));
  }
  const char* kind() const override { return "TestBasicBlock"; }
};

struct TinyResnet {
  std::unique_ptr<Sequential> stem = std::make_unique<Sequential>();
  std::unique_ptr<Sequential> body = std::make_unique<Sequential>();

  explicit TinyResnet(uint64_t seed) {
    stem->push(std::make_unique<Conv2d>(3, 8, 3, square_conv(1, 1), true));
    stem->push(std::make_unique<BatchNorm2d>(8));
    stem->push(std::make_unique<ReLU>());
    Pool2dParams mp;
    mp.kernel_h = mp.kernel_w = 3;
    mp.stride_h = mp.stride_w = 2;
    mp.pad_h = mp.pad_w = 1;
    stem->push(std::make_unique<MaxPool2d>(mp));
    body->push(std::make_unique<Block>(8, 8, 1));
    body->push(std::make_unique<Block>(8, 16, 2));
    body->push(std::make_unique<AdaptiveAvgPool2d>(1, 1));
    body->push(std::make_unique<Flatten>());
    body->push(std::make_unique<Linear>(16, 5));
    init_params(*stem, seed);
    init_params(*body, seed + 1);
    randomize_batchnorm(*stem, seed + 2);
    randomize_batchnorm(*body, seed + 3);
  }
  // Non-trivial batchnorm parameters and running statistics, so that batchnorm matters.
  static void randomize_batchnorm(Module& m, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> pos(0.5, 1.5);
    std::normal_distribution<double> small(0.0, 0.2);
    for (auto& [name, p] : m.state()) {
      if (p->value.ndim() != 1) continue;
      const bool positive = name.find("running_var") != std::string::npos || name.find("weight") != std::string::npos;
      for (int64_t i = 0; i < p->value.numel(); ++i)
        p->value.data<float>()[i] = static_cast<float>(positive ? pos(rng) : small(rng));
    }
  }
  void to(Backend& be) {
    stem->to(be);
    body->to(be);
  }
  std::vector<std::pair<std::string, Param*>> state() {
    auto s = stem->state("stem.");
    auto b = body->state("body.");
    s.insert(s.end(), b.begin(), b.end());
    return s;
  }
};

// |gpu - ref| <= 1e-4 * max|ref| + 1e-4 * |ref| (cuDNN may choose FFT or Winograd algorithms)
void expect_close(Backend& gpu, const Tensor& got, const Tensor& ref, const std::string& what) {
  Tensor g = gpu.download(got);
  ASSERT_EQ(g.shape(), ref.shape()) << what;
  EXPECT_LE(mixed_error(g, ref, 1e-4 * std::max(max_abs(ref), 1e-30), 1e-4), 1.0) << what;
}

class CudaGraph : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << no_cuda_reason();
    gpu = make_test_gpu();
    cpu = make_cpu_backend(true);
  }
  std::unique_ptr<Backend> gpu, cpu;
};

struct EvalRun {
  Tensor y;                   // (N, 5)
  std::vector<Tensor> grads;  // (K, N,3,H,W), (K, stem output shape)
};

EvalRun eval_run(Backend& be, TinyResnet& net, const Tensor& x, const Tensor& cot) {
  Graph g(be);
  Forward fw(g);
  Var in = g.input(x, true);
  Var h = net.stem->forward(in, fw);
  Var y = net.body->forward(h, fw);
  EvalRun r;
  r.y = y.value;
  r.grads = g.vjp(y, cot, {in, h}, /*max_k=*/3);
  return r;
}

TEST_F(CudaGraph, TinyResnetEvalForwardAndVjp) {
  TinyResnet net(11);
  Tensor x = randn({2, 3, 17, 15}, 12, DType::F32);
  Tensor cot = randn({4, 2, 5}, 13, DType::F32);  // K = 4, chunks of 3 and 1
  EvalRun ref = eval_run(*cpu, net, x, cot);
  net.to(*gpu);
  EvalRun got = eval_run(*gpu, net, x, cot);
  expect_close(*gpu, got.y, ref.y, "logits");
  ASSERT_EQ(got.grads.size(), 2u);
  expect_close(*gpu, got.grads[0], ref.grads[0], "vjp wrt input");
  expect_close(*gpu, got.grads[1], ref.grads[1], "vjp wrt the stem's output");
  // Deterministic mode: the same vjp again gives the same bits.
  EvalRun again = eval_run(*gpu, net, x, cot);
  Tensor a = gpu->download(got.grads[0]), b = gpu->download(again.grads[0]);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.item(i), b.item(i)) << "repeat vjp differs at " << i;
}

struct TrainRun {
  Tensor loss;
  std::vector<Tensor> state;  // every tensor after the step's forward (running stats updated)
  std::vector<Tensor> grads;  // every trainable parameter's gradient
};

TrainRun train_run(Backend& be, TinyResnet& net, const Tensor& x, const Tensor& labels) {
  Graph g(be);
  g.set_training(true);
  Forward fw(g);
  Var y = net.body->forward(net.stem->forward(g.input(x), fw), fw);
  Var loss = cross_entropy(y, labels);
  g.backward(loss);
  TrainRun r;
  r.loss = loss.value;
  for (auto& [name, p] : net.state()) {
    r.state.push_back(p->value);
    r.grads.push_back(p->grad);
  }
  return r;
}

TEST_F(CudaGraph, TinyResnetTrainStep) {
  TinyResnet ref_net(21), gpu_net(21);
  gpu_net.to(*gpu);
  Tensor x = randn({3, 3, 16, 13}, 22, DType::F32);
  Tensor labels = Tensor::empty({3}, DType::I32);
  for (int i = 0; i < 3; ++i) labels.data<int32_t>()[i] = (i * 3 + 1) % 5;
  TrainRun ref = train_run(*cpu, ref_net, x, labels);
  TrainRun got = train_run(*gpu, gpu_net, x, labels);
  expect_close(*gpu, got.loss, ref.loss, "loss");
  auto names = ref_net.state();
  ASSERT_EQ(got.state.size(), ref.state.size());
  // A gradient is compared on the scale of its module's largest gradient: the stem conv's
  // bias feeds a train-mode batchnorm, which subtracts the batch mean, so its true gradient
  // is 0 and both sides hold rounding noise only (checked against the weight's gradient).
  auto module_of = [](const std::string& name) { return name.substr(0, name.rfind('.')); };
  std::map<std::string, double> scale;
  for (size_t i = 0; i < ref.grads.size(); ++i)
    if (ref.grads[i].defined())
      scale[module_of(names[i].first)] = std::max(scale[module_of(names[i].first)], max_abs(ref.grads[i]));
  for (size_t i = 0; i < ref.state.size(); ++i) {
    const std::string& name = names[i].first;
    expect_close(*gpu, got.state[i], ref.state[i], name + " after the step");
    ASSERT_EQ(got.grads[i].defined(), ref.grads[i].defined()) << name;
    if (!ref.grads[i].defined()) continue;
    const Tensor g = gpu->download(got.grads[i]);
    const double s = scale[module_of(name)];
    EXPECT_LE(mixed_error(g, ref.grads[i], 1e-4 * s, 1e-4), 1.0) << "gradient of " << name;
    if (name == "stem.0.bias") {
      EXPECT_LE(max_abs(ref.grads[i]), 1e-5 * s) << "the reference's bias gradient before batchnorm is not ~0";
      EXPECT_LE(max_abs(g), 1e-4 * s) << "the GPU's bias gradient before batchnorm is not ~0";
    }
  }
}

// Reductions and elementwise ops in a graph: mean, sum, scale, mul, interpolation batch.
TEST_F(CudaGraph, ReductionsVjp) {
  Tensor x0 = randn({2, 3, 5, 4}, 31, DType::F32), x1 = randn({2, 3, 5, 4}, 32, DType::F32);
  Tensor m = randn({10, 3, 5, 4}, 33, DType::F32);
  Tensor cot = randn({3}, 34, DType::F32);  // K = 3 cotangents of a scalar
  std::vector<double> t{0.0, 0.3, 0.6, 0.9, 1.0};
  auto run = [&](Backend& be) {
    Graph g(be);
    Var in = g.input(be.interpolate(be.upload(x0), be.upload(x1), t), true);  // (10,3,5,4)
    Var y = mul(relu(in), be.upload(m));
    Var s = add(scale(mean(y), 2.5), sum(y));
    return std::make_pair(be.download(s.value), be.download(g.vjp(s, cot, {in})[0]));
  };
  auto ref = run(*cpu);
  auto got = run(*gpu);
  expect_close(*cpu, got.first, ref.first, "value");
  expect_close(*cpu, got.second, ref.second, "vjp");
}

}  // namespace
}  // namespace sv::test
