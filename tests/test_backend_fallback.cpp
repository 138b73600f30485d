// BackendFallback: an op a backend does not support (Backend::supports_op) runs on its
// fallback, the CPU reference, with the same results, and says so once in the debug log.
//   - a fast CPU backend that declares every op unsupported gives, for every case of the op
//     table (tests/op_cases.cpp), bit for bit the reference's results, or the same error;
//   - one that declares some ops unsupported runs a model's forward pass and K-stacked vjp
//     to the same values as the fast backend (its own kernels still run where supported);
//   - with SHAREDVIS_LOG=debug each falling-back op is noted once on stderr, without it never;
//   - a backend without a fallback names the op it cannot run;
//   - a shape-only graph (autodiff/graph.h) runs no kernel at all.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <typeinfo>

#include "backends/cpu/cpu_backend.h"
#include "backends/reference/reference_backend.h"
#include "layers/module.h"
#include "tests/gradcheck.h"
#include "tests/op_cases.h"

namespace sv::test {
namespace {

// The fast CPU backend with the ops in `off` declared unsupported.
class PartialCpu : public CpuBackend {
 public:
  explicit PartialCpu(std::set<Op> off) : CpuBackend(1), off_(std::move(off)) {}
  bool supports_op(Op op) const override { return off_.count(op) == 0 && CpuBackend::supports_op(op); }

 private:
  std::set<Op> off_;
};

std::set<Op> every_op() {
  std::set<Op> s;
  for (int i = 0; i < kOpCount; ++i) s.insert(static_cast<Op>(i));
  return s;
}

// Sets an environment variable for one scope, restoring what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
      had_ = true;
    }
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

std::vector<Tensor> inputs_of(const OpCase& c, uint64_t seed) {
  std::vector<Tensor> v;
  for (const InputSpec& s : c.inputs) {
    if (s.gen == Gen::Labels) {
      Tensor t = Tensor::empty(s.shape, DType::I32);
      for (int64_t j = 0; j < t.numel(); ++j) t.data<int32_t>()[j] = static_cast<int32_t>((j * 5 + 1) % s.classes);
      v.push_back(t);
    } else {
      v.push_back(randn(s.shape, seed++, DType::F32, s.scale));
    }
  }
  return v;
}

std::vector<Tensor> clones(const std::vector<Tensor>& v) {
  std::vector<Tensor> c;
  for (const Tensor& t : v) c.push_back(t.clone());
  return c;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw(), b.raw(), static_cast<size_t>(a.nbytes())) == 0;
}

TEST(BackendFallback, EveryOpOnTheFallbackMatchesTheReferenceBitForBit) {
  PartialCpu all_off(every_op());
  ReferenceBackend ref;
  for (int i = 0; i < kOpCount; ++i) EXPECT_FALSE(all_off.supports_op(static_cast<Op>(i))) << op_name(static_cast<Op>(i));
  const std::vector<OpCase> cases = all_op_cases();
  uint64_t seed = 100;
  int compared = 0;
  for (const OpCase& c : cases) {
    SCOPED_TRACE(c.op + " " + c.shape);
    const std::vector<Tensor> in = inputs_of(c, seed);
    seed += 17;
    std::vector<Tensor> want, got;
    std::string want_err, got_err;
    try {
      want = c.run(ref, clones(in));
    } catch (const Error& e) {
      want_err = typeid(e).name();
    }
    try {
      got = c.run(all_off, clones(in));
    } catch (const Error& e) {
      got_err = typeid(e).name();
    }
    ASSERT_EQ(got_err, want_err);
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < got.size(); ++o) EXPECT_TRUE(same_bits(got[o], want[o])) << c.outputs[o];
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(cases.size()));
}

// A small CNN (conv, batchnorm folded, ReLU, max pool, residual add + ReLU, linear):
// forward and a K = 3 vjp to the input.
Tensor forward_and_vjp(Backend& be, Tensor& y_out) {
  Graph g(be);
  Param w1, b1, w2, wl;
  w1.value = randn({4, 3, 3, 3}, 11, DType::F32, 0.3);
  b1.value = randn({4}, 12, DType::F32);
  w2.value = randn({4, 4, 3, 3}, 13, DType::F32, 0.3);
  wl.value = randn({5, 4 * 4 * 4}, 14, DType::F32, 0.2);
  const Tensor a = randn({4}, 15, DType::F32), c = randn({4}, 16, DType::F32);
  Var x = g.input(randn({2, 3, 8, 8}, 17, DType::F32), true);
  Var h = relu(batchnorm2d_eval(conv2d(x, g.param(w1), g.param(b1), conv_params(1, 1, 1, 1)), a, c));
  h = maxpool2d(h, pool_params(2, 2, 2, 2, 0, 0, false));
  Var r = conv2d(h, g.param(w2), Var{}, conv_params(1, 1, 1, 1));
  h = add_relu(r, h);
  Var y = linear(flatten(h), g.param(wl), Var{});
  y_out = be.download(y.value);
  return be.download(g.vjp(y, randn({3, 2, 5}, 18, DType::F32), {x})[0]);
}

TEST(BackendFallback, SomeOpsOnTheFallbackGiveTheSameModelGradients) {
  CpuBackend fast(1);
  PartialCpu partial({Op::ReluBackward, Op::Conv2dBackwardData, Op::MaxpoolForward, Op::AddRelu,
                      Op::LinearBackwardData, Op::ChannelAffine});
  EXPECT_TRUE(partial.supports_op(Op::Conv2dForward));
  EXPECT_FALSE(partial.supports_op(Op::ReluBackward));
  Tensor y_fast, y_partial;
  const Tensor g_fast = forward_and_vjp(fast, y_fast);
  const Tensor g_partial = forward_and_vjp(partial, y_partial);
  EXPECT_LE(mixed_error(y_partial, y_fast, 1e-5, 1e-5), 1.0);
  EXPECT_LE(mixed_error(g_partial, g_fast, 1e-5, 1e-5), 1.0);
  EXPECT_GT(max_abs(g_fast), 0.0);
}

TEST(BackendFallback, EachFallingBackOpIsNotedOnceInTheDebugLog) {
  PartialCpu partial({Op::ReluBackward, Op::Scale});
  const Tensor y = randn({2, 3}, 1, DType::F32), g = randn({4, 3}, 2, DType::F32);
  {
    ScopedEnv env("SHAREDVIS_LOG", "debug");
    testing::internal::CaptureStderr();
    partial.relu_backward(g, y, 2);
    partial.relu_backward(g, y, 2);
    partial.scale(y, 2.0);
    partial.add(y, y);  // supported: no note
    const std::string log = testing::internal::GetCapturedStderr();
    const std::string relu_note = "sharedvis debug: cpu has no kernel for relu backward: it runs on cpu-reference\n";
    const std::string scale_note = "sharedvis debug: cpu has no kernel for scale: it runs on cpu-reference\n";
    EXPECT_EQ(log, relu_note + scale_note);
  }
  PartialCpu quiet({Op::ReluBackward});
  ScopedEnv env("SHAREDVIS_LOG", nullptr);
  testing::internal::CaptureStderr();
  quiet.relu_backward(g, y, 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(BackendFallback, WithoutAFallbackTheOpIsNamed) {
  PartialCpu partial({Op::ReluForward});
  partial.set_fallback(nullptr);
  try {
    partial.relu_forward(randn({2, 3}, 1, DType::F32));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cpu has no kernel for relu and no fallback"), std::string::npos) << e.what();
  }
}

// A shape-only graph runs no kernel: on a backend that has none (every op unsupported, no
// fallback: any kernel call would throw) a small net's forward pass gives the shapes a real
// run gives, and shape errors are still errors.
TEST(BackendFallback, ShapeOnlyGraphRunsNoKernel) {
  PartialCpu no_kernels(every_op());
  no_kernels.set_fallback(nullptr);
  CpuBackend fast(1);
  auto net = [](Graph& g, const Shape& xs) {
    Param w1, w2, wl;
    w1.value = randn({4, 3, 3, 3}, 1, DType::F32);
    w2.value = randn({4, 4, 3, 3}, 2, DType::F32);
    wl.value = randn({5, 4 * 3 * 3}, 3, DType::F32);
    const Tensor a = randn({4}, 4, DType::F32), c = randn({4}, 5, DType::F32);
    Var h = relu(batchnorm2d_eval(conv2d(g.input(randn(xs, 6, DType::F32)), g.param(w1), Var{},
                                         conv_params(2, 2, 1, 1)), a, c));
    h = add_relu(conv2d(h, g.param(w2), Var{}, conv_params(1, 1, 1, 1)), h);
    h = adaptive_avgpool2d(maxpool2d(h, pool_params(3, 3, 2, 2, 1, 1, true)), 3, 3);
    return linear(flatten(h), g.param(wl), Var{}).shape();
  };
  for (const Shape& xs : {Shape{2, 3, 17, 13}, Shape{1, 3, 8, 8}}) {
    Graph shapes(no_kernels, /*record=*/false, /*shapes_only=*/true), real(fast, false);
    EXPECT_EQ(net(shapes, xs), net(real, xs));
  }
  Graph shapes(no_kernels, false, true);
  EXPECT_THROW(net(shapes, {2, 4, 17, 13}), ShapeError);  // 4 channels into a 3-channel conv
  EXPECT_THROW(Graph(no_kernels, /*record=*/true, /*shapes_only=*/true), ValueError);
}

// The fast CPU backend leaves what it does not make faster to the reference: those ops need
// no kernel of its own (a new op needs only its reference kernel).
TEST(BackendFallback, FastCpuDeclaresWhatItSupports) {
  CpuBackend fast(1);
  for (Op op : {Op::Interpolate, Op::SumAll, Op::SumBlocks, Op::BroadcastBlocks, Op::SoftmaxXentForward,
                Op::SoftmaxXentBackward})
    EXPECT_FALSE(fast.supports_op(op)) << op_name(op);
  for (Op op : {Op::Conv2dForward, Op::Conv2dBackwardData, Op::ReluBackward, Op::LinearForward, Op::AddRelu})
    EXPECT_TRUE(fast.supports_op(op)) << op_name(op);
  ReferenceBackend ref;
  for (int i = 0; i < kOpCount; ++i) EXPECT_TRUE(ref.supports_op(static_cast<Op>(i)));
}

}  // namespace
}  // namespace sv::test
