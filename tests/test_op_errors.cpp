// OpErrors: shape mismatches and invalid parameters raise sv::ShapeError / sv::ValueError
// whose message names the op and the offending shapes or values.
#include <string>
#include <vector>

#include "backends/factory.h"
#include "tests/gradcheck.h"

namespace sv::test {

namespace {
// Runs f, expects an exception of exactly type E (not another Error) whose message holds
// every string of `parts`.
template <class E, class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning " << parts.front();
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

struct Fixture {
  std::unique_ptr<Backend> be = make_cpu_backend();
  Graph g{*be};
  Var in(const Shape& s, DType dt = DType::F32) { return g.input(randn(s, 1, dt)); }
};

Tensor labels(const std::vector<int32_t>& l) {
  Tensor t = Tensor::empty({static_cast<int64_t>(l.size())}, DType::I32);
  std::copy(l.begin(), l.end(), t.data<int32_t>());
  return t;
}
}  // namespace

TEST(OpErrors, Conv2dChannelMismatchNamesBothShapes) {
  Fixture f;
  expect_error<ShapeError>(
      [&] {
        conv2d(f.in({2, 3, 8, 8}), f.in({4, 5, 3, 3}), Var{}, {});
      },
      {"conv2d", "(4, 5, 3, 3)", "(2, 3, 8, 8)"});
}

TEST(OpErrors, Conv2dInvalidParams) {
  Fixture f;
  Conv2dParams p;
  p.stride_w = 0;
  expect_error<ValueError>(
      [&] {
        conv2d(f.in({1, 3, 8, 8}), f.in({4, 3, 3, 3}), Var{}, p);
      },
      {"conv2d", "stride", "(1, 0)"});
  p = {};
  p.pad_h = -1;
  expect_error<ValueError>([&] { conv2d(f.in({1, 3, 8, 8}), f.in({4, 3, 3, 3}), Var{}, p); }, {"conv2d", "padding"});
  p = {};
  p.dil_h = 0;
  expect_error<ValueError>([&] { conv2d(f.in({1, 3, 8, 8}), f.in({4, 3, 3, 3}), Var{}, p); }, {"conv2d", "dilation"});
  p = {};
  p.groups = 4;
  expect_error<ShapeError>(
      [&] {
        conv2d(f.in({1, 6, 5, 5}), f.in({4, 2, 3, 3}), Var{}, p);
      },
      {"conv2d", "groups = 4", "6"});
}

TEST(OpErrors, Conv2dInputSmallerThanKernelBiasAndRank) {
  Fixture f;
  expect_error<ShapeError>(
      [&] {
        conv2d(f.in({1, 3, 2, 2}), f.in({4, 3, 3, 3}), Var{}, {});
      },
      {"conv2d", "(1, 3, 2, 2)", "(4, 3, 3, 3)", "smaller"});
  expect_error<ShapeError>(
      [&] {
        conv2d(f.in({1, 3, 8, 8}), f.in({4, 3, 3, 3}), f.in({5}), {});
      },
      {"conv2d", "bias", "(5,)", "(4, 3, 3, 3)"});
  expect_error<ShapeError>(
      [&] {
        conv2d(f.in({3, 8, 8}), f.in({4, 3, 3, 3}), Var{}, {});
      },
      {"conv2d", "input", "(3, 8, 8)"});
  expect_error<ShapeError>(
      [&] {
        conv2d(f.in({1, 3, 8, 8}), f.in({4, 3, 3, 3}, DType::F64), Var{}, {});
      },
      {"conv2d", "float32", "float64"});
}

TEST(OpErrors, LinearAddMulReshapeMismatch) {
  Fixture f;
  expect_error<ShapeError>([&] { linear(f.in({2, 5}), f.in({3, 4}), Var{}); }, {"linear", "(2, 5)", "(3, 4)"});
  expect_error<ShapeError>([&] { linear(f.in({2, 4}), f.in({3, 4}), f.in({2})); }, {"linear", "bias", "(2,)"});
  expect_error<ShapeError>([&] { add(f.in({2, 3}), f.in({3, 2})); }, {"add", "(2, 3)", "(3, 2)"});
  expect_error<ShapeError>([&] { mul(f.in({2, 3}), randn({2, 4}, 2, DType::F32)); }, {"mul", "(2, 3)", "(2, 4)"});
  expect_error<ShapeError>([&] { reshape(f.in({2, 6}), {2, 5}); }, {"reshape", "(2, 6)", "(2, 5)"});
  expect_error<ShapeError>([&] { reshape(f.in({2, 6}), {3, 4}); }, {"reshape", "batch", "(2, 6)", "(3, 4)"});
}

TEST(OpErrors, PoolingInvalidParams) {
  Fixture f;
  Pool2dParams p;
  p.kernel_h = 0;
  expect_error<ValueError>([&] { maxpool2d(f.in({1, 2, 6, 6}), p); }, {"maxpool2d", "kernel", "(0, 1)"});
  p = {};
  p.kernel_h = p.kernel_w = 3;
  p.pad_h = p.pad_w = 2;
  expect_error<ValueError>([&] { avgpool2d(f.in({1, 2, 6, 6}), p); }, {"avgpool2d", "padding (2, 2)", "(3, 3)"});
  p = {};
  p.kernel_h = p.kernel_w = 7;
  expect_error<ShapeError>([&] { maxpool2d(f.in({1, 2, 5, 6}), p); }, {"maxpool2d", "(1, 2, 5, 6)", "(7, 7)"});
  expect_error<ShapeError>([&] { maxpool2d(f.in({2, 6, 6}), Pool2dParams{}); }, {"maxpool2d", "(2, 6, 6)"});
  expect_error<ValueError>([&] { adaptive_avgpool2d(f.in({1, 2, 6, 6}), 0, 7); }, {"adaptive_avgpool2d", "(0, 7)"});
}

TEST(OpErrors, BatchNormChannelsAndBatchSize) {
  Fixture f;
  Tensor a = Tensor::full({4}, 1.0), c = Tensor::zeros({3});
  expect_error<ShapeError>(
      [&] {
        batchnorm2d_eval(f.in({2, 3, 4, 4}), a, c);
      },
      {"batchnorm2d", "(4,)", "3 channels", "(2, 3, 4, 4)"});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::full({3}, 1.0);
  expect_error<ValueError>(
      [&] {
        batchnorm2d_train(f.in({1, 3, 1, 1}), f.in({3}), f.in({3}), rm, rv, 1e-5, 0.1);
      },
      {"batchnorm2d", "more than one value per channel", "(1, 3, 1, 1)"});
}

TEST(OpErrors, CrossEntropyAndDropout) {
  Fixture f;
  expect_error<ValueError>(
      [&] {
        cross_entropy(f.in({2, 5}), labels({1, 5}));
      },
      {"cross_entropy", "label 5", "row 1", "[0, 5)"});
  expect_error<ShapeError>(
      [&] {
        cross_entropy(f.in({2, 5}), Tensor::zeros({2}, DType::F32));
      },
      {"cross_entropy", "int32", "(2,)", "float32"});
  expect_error<ShapeError>([&] { cross_entropy(f.in({2, 5}), labels({1, 2, 3})); }, {"cross_entropy", "(3,)"});
  expect_error<ValueError>([&] { dropout(f.in({2, 5}), 1.0, 0); }, {"dropout", "[0, 1)"});
}

TEST(OpErrors, GraphVjpAndBackwardShapes) {
  Fixture f;
  Var x = f.g.input(randn({2, 3}, 3, DType::F32), true);
  Var y = scale(x, 2.0);
  expect_error<ShapeError>([&] { f.g.vjp(y, Tensor::zeros({4, 3, 2}), {x}); }, {"vjp", "(4, 3, 2)"});
  expect_error<ShapeError>([&] { f.g.backward(y); }, {"backward", "scalar", "(2, 3)"});
}

TEST(OpErrors, KernelsRejectGradientsThatAreNotWholeCopies) {
  for (bool reference : {true, false}) {
    auto be = make_cpu_backend(reference);
    Tensor y = randn({2, 3}, 4, DType::F32), g = randn({7, 2}, 5, DType::F32);
    expect_error<ShapeError>([&] { be->relu_backward(g, y, 3); }, {"relu backward", "(7, 2)", "(2, 3)"});
    expect_error<ShapeError>([&] { be->mul_tiled(g, y, 3); }, {"mul", "(7, 2)", "(2, 3)"});
    Tensor x = randn({2, 3, 5, 5}, 6, DType::F32), w = randn({4, 3, 3, 3}, 7, DType::F32);
    expect_error<ShapeError>(
        [&] {
          be->conv2d_backward_data(randn({2, 4, 4, 4}, 8, DType::F32), w, x.shape(), {}, 1);
        },
        {"conv2d backward", "(2, 4, 4, 4)", "(2, 4, 3, 3)"});
  }
}

// K is an argument: a gradient stacked another number of times, or of the same size but
// another shape (the relu_backward(gy (3,2,4,4), y (2,3,4,4))), is an error naming
// the op, K and both shapes.
TEST(OpErrors, KStackedOperandsMustBeStackedExactlyK) {
  for (bool reference : {true, false}) {
    auto be = make_cpu_backend(reference);
    const Tensor y = randn({2, 3, 4, 4}, 4, DType::F32);
    expect_error<ShapeError>([&] { be->relu_backward(randn({3, 2, 4, 4}, 5, DType::F32), y, 1); },
                             {"relu backward", "(3, 2, 4, 4)", "(2, 3, 4, 4)", "K = 1"});
    const Tensor g3 = randn({6, 3, 4, 4}, 6, DType::F32);
    expect_error<ShapeError>([&] { be->relu_backward(g3, y, 2); },
                             {"relu backward", "(6, 3, 4, 4)", "(2, 3, 4, 4)", "K = 2"});
    expect_error<ShapeError>([&] { be->mul_tiled(g3, y, 4); }, {"mul", "(6, 3, 4, 4)", "(2, 3, 4, 4)", "K = 4"});
    expect_error<ValueError>([&] { be->relu_backward(g3, y, 0); }, {"relu backward", "K must be >= 1"});
    Tensor idx;
    be->maxpool_forward(y, pool_params(2, 2, 2, 2, 0, 0, false), idx);
    expect_error<ShapeError>([&] { be->maxpool_backward(randn({6, 3, 2, 2}, 7, DType::F32), idx, y.shape(), 2); },
                             {"maxpool2d backward", "(6, 3, 2, 2)", "(2, 3, 2, 2)", "K = 2"});
    expect_error<ShapeError>(
        [&] { be->linear_backward_data(randn({6, 4}, 8, DType::F32), randn({4, 5}, 9, DType::F32), {2, 5}, 2); },
        {"linear backward data", "(6, 4)", "(2, 4)", "K = 2"});
    expect_error<ShapeError>([&] { be->broadcast_blocks(randn({3}, 10, DType::F32), 4, 1.0, 2); },
                             {"broadcast blocks", "(3,)", "(2)"});
  }
}

}  // namespace sv::test
