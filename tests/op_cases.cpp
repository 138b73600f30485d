// The table of op cases (tests/op_cases.h): every Backend op over odd sizes, strides,
// padding, dilation, groups (depthwise too), ceil_mode, count_include_pad, empty batches,
// K = 1 and K-stacked gradients, and the shape mismatches the interface rejects. Shapes
// gathered from the former per-file tests (FastPath, GradCheck, CudaOps) plus new ones.
#include "tests/op_cases.h"

#include <random>

namespace sv::test {
namespace {

constexpr int64_t kK = 3;  // cotangents in the K-stacked backward calls

std::string dims(const Shape& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + ")";
}
std::string pair(const char* what, int a, int b) {
  return std::string(" ") + what + "(" + std::to_string(a) + "," + std::to_string(b) + ")";
}

// ---- convolution: forward, forward + relu, backward data (K = 1 and K = 3), backward
// filter, bias gradient (channel_sum of the output gradient).
OpCase conv(const Shape& x, const Shape& w, const Conv2dParams& p, bool bias, bool grad, int64_t K = kK) {
  OpCase c;
  c.op = "conv2d";
  c.shape = "x" + dims(x) + " w" + dims(w) + pair("s", p.stride_h, p.stride_w) + pair("p", p.pad_h, p.pad_w) +
            pair("d", p.dil_h, p.dil_w) + " g" + std::to_string(p.groups) + (bias ? " bias" : "") + " K" +
            std::to_string(K);
  const Shape ys = conv2d_out_shape(x, w, p);
  c.inputs = {in(x), in(w), in(ys), in(fold_k(ys, K))};
  if (bias) c.inputs.push_back(in({w[0]}));
  c.outputs = {"forward", "forward+relu", "backward data K=1", "backward data K=" + std::to_string(K),
               "backward filter", "bias grad"};
  c.run = [=](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
    const Tensor b = bias ? v[4] : Tensor();
    return {be.conv2d_forward(v[0], v[1], b, p),
            be.conv2d_relu_forward(v[0], v[1], b, p),
            be.conv2d_backward_data(v[2], v[1], x, p, 1),
            be.conv2d_backward_data(v[3], v[1], x, p, K),
            be.conv2d_backward_filter(v[0], v[2], w, p),
            be.channel_sum(v[2])};
  };
  if (grad) {
    c.grad = [=](const std::vector<Var>& v, const std::vector<Tensor>&) {
      return conv2d(v[0], v[1], bias ? v[2] : Var{}, p);
    };
    c.grad_inputs = bias ? std::vector<int>{0, 1, 4} : std::vector<int>{0, 1};
  }
  c.tol = 10;
  return c;
}

// Random convolutions with odd sizes (the former FastPath random sweep, same generator).
void random_convs(std::vector<OpCase>& out, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return static_cast<int>(lo + rng() % (hi - lo + 1)); };
  int made = 0;
  while (made < count) {
    Conv2dParams p;
    p.groups = pick(1, 3);
    p.stride_h = pick(1, 3);
    p.stride_w = pick(1, 3);
    p.dil_h = pick(1, 2);
    p.dil_w = pick(1, 3);
    p.pad_h = pick(0, 2);
    p.pad_w = pick(0, 3);
    const int cg = pick(1, 5), og = pick(1, 4);
    const Shape x{pick(1, 5), cg * p.groups, pick(3, 13), pick(3, 13)};
    const Shape w{og * p.groups, cg, pick(1, 4), pick(1, 4)};
    const bool bias = rng() % 2 == 0;
    const int64_t K = pick(1, 3);
    try {
      conv2d_out_shape(x, w, p);
    } catch (const ShapeError&) {
      continue;
    }
    out.push_back(conv(x, w, p, bias, false, K));
    ++made;
  }
}

void conv_cases(std::vector<OpCase>& t) {
  // gradient-checked: strides, padding, bias, dilation, groups, depthwise, pointwise, a stem
  t.push_back(conv({2, 3, 7, 6}, {4, 3, 3, 3}, conv_params(2, 1, 1, 2), true, true));
  t.push_back(conv({1, 2, 5, 9}, {3, 2, 2, 4}, conv_params(1, 3, 0, 1), true, true));
  t.push_back(conv({1, 2, 9, 8}, {3, 2, 3, 2}, conv_params(1, 1, 2, 1, 2, 3), false, true));
  t.push_back(conv({2, 1, 8, 7}, {2, 1, 3, 3}, conv_params(2, 2, 1, 1, 2, 2), false, true));
  t.push_back(conv({2, 6, 5, 7}, {4, 3, 3, 3}, conv_params(2, 2, 1, 1, 1, 1, 2), true, true));
  t.push_back(conv({1, 4, 6, 5}, {8, 1, 3, 3}, conv_params(1, 1, 1, 1, 1, 1, 4), false, true));  // depthwise x2
  t.push_back(conv({2, 5, 4, 3}, {3, 5, 1, 1}, conv_params(1, 1, 0, 0), true, true));
  t.push_back(conv({1, 3, 11, 13}, {2, 3, 7, 7}, conv_params(2, 2, 3, 3), false, true));
  t.push_back(conv({3, 4, 6, 7}, {6, 2, 3, 3}, conv_params(2, 1, 1, 1, 1, 2, 2), true, true));
  t.push_back(conv({2, 4, 6, 7}, {6, 2, 3, 3}, conv_params(1, 1, 1, 2, 1, 2, 2), false, true));
  t.push_back(conv({2, 3, 5, 5}, {4, 3, 3, 3}, conv_params(1, 1, 1, 1), true, true, 1));  // Winograd, K = 1
  // the fast path's chunked, banded and pointwise shapes; several images per GEMM, one
  // image split over threads, bands of output rows (strided and dilated too)
  t.push_back(conv({9, 8, 5, 5}, {12, 8, 3, 3}, square_conv(1, 1), true, false, 3));
  t.push_back(conv({7, 16, 3, 4}, {8, 16, 1, 1}, square_conv(1, 0), false, false, 2));
  t.push_back(conv({1, 16, 9, 9}, {8, 16, 1, 1}, square_conv(1, 0), true, false, 1));
  t.push_back(conv({3, 32, 15, 15}, {48, 32, 3, 3}, square_conv(1, 1), false, false, 1));
  t.push_back(conv({4, 24, 12, 11}, {16, 24, 1, 1}, square_conv(2, 0), true, false, 2));
  t.push_back(conv({5, 12, 8, 8}, {12, 3, 3, 3}, square_conv(2, 2, 2, 4), true, false, 3));
  t.push_back(conv({2, 3, 23, 21}, {8, 3, 7, 7}, square_conv(2, 3), false, false, 2));
  t.push_back(conv({1, 32, 20, 20}, {40, 32, 3, 3}, square_conv(1, 1), true, false, 1));
  t.push_back(conv({1, 24, 16, 18}, {36, 8, 3, 3}, square_conv(1, 1, 1, 3), false, false, 1));
  t.push_back(conv({1, 16, 250, 120}, {6, 8, 3, 3}, square_conv(1, 1, 1, 2), true, false, 1));
  t.push_back(conv({1, 24, 300, 130}, {6, 12, 3, 3}, square_conv(2, 2, 2, 2), false, false, 2));
  // the former CudaOps shapes
  t.push_back(conv({2, 3, 11, 9}, {5, 3, 3, 3}, conv_params(1, 1, 1, 1), true, false, 3));
  t.push_back(conv({2, 4, 13, 10}, {6, 2, 3, 2}, conv_params(2, 1, 1, 0, 1, 1, 2), false, false, 2));
  t.push_back(conv({1, 6, 15, 12}, {6, 1, 3, 3}, conv_params(2, 2, 2, 2, 2, 2, 6), true, false, 4));  // depthwise
  t.push_back(conv({3, 8, 9, 9}, {16, 8, 1, 1}, conv_params(2, 2, 0, 0), false, false, 2));
  t.push_back(conv({2, 3, 29, 31}, {8, 3, 7, 7}, conv_params(2, 2, 3, 3), false, false, 2));
  t.push_back(conv({2, 16, 14, 14}, {32, 16, 3, 3}, conv_params(1, 1, 1, 1), true, false, 5));
  t.push_back(conv({1, 9, 7, 8}, {6, 3, 2, 3}, conv_params(1, 2, 1, 1, 3, 1, 3), true, false, 1));
  // an empty batch
  t.push_back(conv({0, 3, 7, 6}, {4, 3, 3, 3}, conv_params(1, 1, 1, 1), true, false, 2));
  random_convs(t, 60, 5);
}

// ---- elementwise, K-tiled, reductions
const std::vector<Shape> kElementwiseShapes{{3, 5},       {2, 3, 7, 5}, {4, 7, 20, 17}, {1},
                                            {3, 1, 4, 4}, {7, 3},       {2, 4, 4, 4},   {0, 3, 4, 4}};

OpCase relu_case(const Shape& s, Gen gen, bool grad) {
  OpCase c;
  c.op = "relu";
  c.shape = "x" + dims(s) + (gen == Gen::Ties ? " ties" : "") + " K" + std::to_string(kK);
  c.inputs = {in(s, gen), in(s), in(fold_k(s, kK))};
  c.outputs = {"forward", "backward K=1", "backward K=3"};
  c.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
    const Tensor y = be.relu_forward(v[0]);
    return {y, be.relu_backward(v[1], y, 1), be.relu_backward(v[2], y, kK)};
  };
  if (grad) {
    c.grad = [](const std::vector<Var>& v, const std::vector<Tensor>&) { return relu(v[0]); };
    c.grad_inputs = {0};
  }
  return c;
}

void elementwise_cases(std::vector<OpCase>& t) {
  for (const Shape& s : kElementwiseShapes) {
    const bool small = shape_numel(s) <= 300 && shape_numel(s) > 0;
    t.push_back(relu_case(s, Gen::AwayFromZero, small));
    t.push_back(relu_case(s, Gen::Ties, false));

    OpCase add;
    add.op = "add";
    add.shape = "x" + dims(s);
    add.inputs = {in(s), in(s)};
    add.outputs = {"a + b"};
    add.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> { return {be.add(v[0], v[1])}; };
    if (small) {
      add.grad = [](const std::vector<Var>& v, const std::vector<Tensor>&) { return sv::add(v[0], v[1]); };
      add.grad_inputs = {0, 1};
    }
    t.push_back(add);

    for (Gen g : {Gen::KinkFreeSum, Gen::Ties}) {
      OpCase ar;
      ar.op = "add_relu";
      ar.shape = "x" + dims(s) + (g == Gen::Ties ? " ties" : "");
      ar.inputs = {in(s, g == Gen::Ties ? Gen::Ties : Gen::Normal), in(s, g)};
      ar.outputs = {"add_relu", "add_relu_ (in place)"};
      ar.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
        Tensor a = v[0];
        const Tensor y = be.add_relu(a, v[1]);
        be.add_relu_(a, v[1]);
        return {y, a};
      };
      if (small && g == Gen::KinkFreeSum) {
        ar.grad = [](const std::vector<Var>& v, const std::vector<Tensor>&) { return sv::add_relu(v[0], v[1]); };
        ar.grad_inputs = {0, 1};
      }
      t.push_back(ar);
    }

    OpCase sc;
    sc.op = "scale";
    sc.shape = "x" + dims(s);
    sc.inputs = {in(s)};
    sc.outputs = {"-0.37 x", "1.7 x"};
    sc.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      return {be.scale(v[0], -0.37), be.scale(v[0], 1.7)};
    };
    if (small) {
      sc.grad = [](const std::vector<Var>& v, const std::vector<Tensor>&) { return sv::scale(v[0], -1.7); };
      sc.grad_inputs = {0};
    }
    t.push_back(sc);

    OpCase ax;
    ax.op = "axpy_";
    ax.shape = "x" + dims(s);
    ax.inputs = {in(s), in(s)};
    ax.outputs = {"y += 1.7 x", "z += -0.1 z (aliased)"};
    ax.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      Tensor y = v[0], z = v[1];
      be.axpy_(y, v[1], 1.7);
      be.axpy_(z, z, -0.1);
      return {y, z};
    };
    t.push_back(ax);

    OpCase mt;
    mt.op = "mul_tiled";
    mt.shape = "m" + dims(s) + " K" + std::to_string(kK);
    mt.inputs = {in(s), in(s), in(fold_k(s, kK))};
    mt.outputs = {"K=1", "K=3"};
    mt.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      return {be.mul_tiled(v[1], v[0], 1), be.mul_tiled(v[2], v[0], kK)};
    };
    if (small) {
      mt.grad = [](const std::vector<Var>& v, const std::vector<Tensor>& x) { return sv::mul(v[0], x[1]); };
      mt.grad_inputs = {0};
    }
    t.push_back(mt);
  }
  for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{2, 8}, Shape{0, 4}}) {
    OpCase c;
    c.op = "interpolate";
    c.shape = "x" + dims(s) + " T5";
    c.inputs = {in(s), in(s)};
    c.outputs = {"points"};
    c.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      return {be.interpolate(v[0], v[1], {0.0, 0.125, 0.5, 0.77, 1.0})};
    };
    t.push_back(c);
  }
  for (const Shape& s : {Shape{100003}, Shape{2, 3, 4}, Shape{1}, Shape{0, 5}}) {
    OpCase c;
    c.op = "sum_all";
    c.shape = "x" + dims(s);
    c.inputs = {in(s)};
    c.outputs = {"sum"};
    c.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> { return {be.sum_all(v[0])}; };
    if (shape_numel(s) > 0 && shape_numel(s) < 100) {
      c.grad = [](const std::vector<Var>& v, const std::vector<Tensor>&) { return sv::sum(v[0]); };
      c.grad_inputs = {0};
    }
    t.push_back(c);
    if (shape_numel(s) > 0 && shape_numel(s) < 100) {
      OpCase m = c;
      m.op = "mean";
      m.grad = [](const std::vector<Var>& v, const std::vector<Tensor>&) { return sv::mean(v[0]); };
      t.push_back(m);
    }
  }
  for (auto [s, K] : std::vector<std::pair<Shape, int64_t>>{{{4, 3, 5, 7}, 4}, {{3, 64, 33, 31}, 3}, {{5, 1}, 5},
                                                             {{6, 7}, 1}}) {
    OpCase c;
    c.op = "sum_blocks";
    c.shape = "x" + dims(s) + " K" + std::to_string(K);
    c.inputs = {in(s)};
    c.outputs = {"sums"};
    c.run = [k = K](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {  // (clang 14 cannot
      return {be.sum_blocks(v[0], k)};                                                    // capture a binding)
    };
    t.push_back(c);
  }
  for (auto [K, M] : std::vector<std::pair<int64_t, int64_t>>{{5, 13}, {1, 1}, {3, 1000}}) {
    OpCase c;
    c.op = "broadcast_blocks";
    c.shape = "g(" + std::to_string(K) + ") M" + std::to_string(M);
    c.inputs = {in({K})};
    c.outputs = {"0.25 g", "-3 g"};
    c.run = [m = M, k = K](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      return {be.broadcast_blocks(v[0], m, 0.25, k), be.broadcast_blocks(v[0], m, -3.0, k)};
    };
    t.push_back(c);
  }
}

// ---- channel reductions, affine, batch normalization
const std::vector<Shape> kChannelShapes{{2, 3, 5, 7},    {6, 5},       {4, 24, 17, 19}, {3, 5, 7, 6},
                                        {4, 6},          {2, 64, 28, 28}, {3, 4, 3, 5},  {2, 2, 1, 3},
                                        {5, 3},          {2, 3, 4, 5},  {3, 4},          {6, 11},
                                        {3, 5, 7, 9},    {2, 64, 56, 56}};

void norm_cases(std::vector<OpCase>& t) {
  for (const Shape& s : kChannelShapes) {
    const bool small = shape_numel(s) <= 200;
    const int64_t C = s[1];
    OpCase cs;
    cs.op = "channel_sum";
    cs.shape = "x" + dims(s);
    cs.inputs = {in(s)};
    cs.outputs = {"per-channel sum"};
    cs.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> { return {be.channel_sum(v[0])}; };
    t.push_back(cs);

    OpCase ca;
    ca.op = "channel_affine";
    ca.shape = "x" + dims(s) + " K" + std::to_string(kK);
    ca.inputs = {in(s, Gen::Normal, 2.0), in({C}), in({C}), in(fold_k(s, kK))};
    ca.outputs = {"x a + b", "K-stacked, no shift"};
    ca.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      return {be.channel_affine(v[0], v[1], v[2]), be.channel_affine(v[3], v[1], Tensor())};
    };
    if (small) {
      ca.grad = [](const std::vector<Var>& v, const std::vector<Tensor>& x) {
        return batchnorm2d_eval(v[0], x[1], x[2]);
      };
      ca.grad_inputs = {0};
    }
    t.push_back(ca);

    OpCase bn;
    bn.op = "batchnorm_train";
    bn.shape = "x" + dims(s) + " K" + std::to_string(kK);
    bn.inputs = {in(s, Gen::Normal, 2.0), in({C}), in({C}), in(s), in(fold_k(s, kK))};
    bn.outputs = {"y",          "mean",          "var_unbiased",     "invstd",           "xhat",
                  "gx K=1",     "ggamma K=1",    "gbeta K=1",        "gx K=3",           "ggamma K=3",
                  "gbeta K=3"};
    bn.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      Tensor mean, var, invstd, xhat, gg1, gb1, ggk, gbk;
      const Tensor y = be.batchnorm_train_forward(v[0], v[1], v[2], 1e-5, mean, var, invstd, xhat);
      const Tensor gx1 = be.batchnorm_train_backward(v[3], xhat, v[1], invstd, 1, gg1, gb1);
      const Tensor gxk = be.batchnorm_train_backward(v[4], xhat, v[1], invstd, kK, ggk, gbk);
      return {y, mean, var, invstd, xhat, gx1, gg1, gb1, gxk, ggk, gbk};
    };
    bn.tol = 10;
    if (small) {
      bn.grad = [C](const std::vector<Var>& v, const std::vector<Tensor>&) {
        Tensor rm = Tensor::zeros({C}, DType::F64), rv = Tensor::full({C}, 1.0, DType::F64);
        return batchnorm2d_train(v[0], v[1], v[2], rm, rv, 1e-5, 0.1);
      };
      bn.grad_inputs = {0, 1, 2};
    }
    t.push_back(bn);
  }
  OpCase e;  // an empty batch: channel_sum of nothing is zero
  e.op = "channel_sum";
  e.shape = "x(0,3,4,4)";
  e.inputs = {in({0, 3, 4, 4})};
  e.outputs = {"per-channel sum"};
  e.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> { return {be.channel_sum(v[0])}; };
  t.push_back(e);
}

// ---- pooling
std::string pool_str(const Pool2dParams& p) {
  return pair("k", p.kernel_h, p.kernel_w) + pair("s", p.stride_h, p.stride_w) + pair("p", p.pad_h, p.pad_w) +
         (p.ceil_mode ? " ceil" : "") + (p.count_include_pad ? "" : " exclude_pad");
}

OpCase maxpool_case(const Shape& x, const Pool2dParams& p, Gen gen, bool grad) {
  OpCase c;
  c.op = "maxpool";
  c.shape = "x" + dims(x) + pool_str(p) + (gen == Gen::Ties ? " ties" : "") + " K" + std::to_string(kK);
  const Shape ys = pool2d_out_shape(x, p, "maxpool2d");
  c.inputs = {in(x, gen), in(ys), in(fold_k(ys, kK))};
  c.outputs = {"forward", "indices", "backward K=1", "backward K=3"};
  c.run = [=](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
    Tensor idx;
    const Tensor y = be.maxpool_forward(v[0], p, idx);
    return {y, idx, be.maxpool_backward(v[1], idx, x, 1), be.maxpool_backward(v[2], idx, x, kK)};
  };
  if (grad) {
    c.grad = [=](const std::vector<Var>& v, const std::vector<Tensor>&) { return maxpool2d(v[0], p); };
    c.grad_inputs = {0};
  }
  return c;
}

OpCase avgpool_case(const Shape& x, const Pool2dParams& p, bool grad) {
  OpCase c;
  c.op = "avgpool";
  c.shape = "x" + dims(x) + pool_str(p) + " K" + std::to_string(kK);
  const Shape ys = pool2d_out_shape(x, p, "avgpool2d");
  c.inputs = {in(x), in(ys), in(fold_k(ys, kK))};
  c.outputs = {"forward", "backward K=1", "backward K=3"};
  c.run = [=](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
    return {be.avgpool_forward(v[0], p), be.avgpool_backward(v[1], x, p, 1), be.avgpool_backward(v[2], x, p, kK)};
  };
  if (grad) {
    c.grad = [=](const std::vector<Var>& v, const std::vector<Tensor>&) { return avgpool2d(v[0], p); };
    c.grad_inputs = {0};
  }
  return c;
}

OpCase adaptive_case(const Shape& x, int oh, int ow, bool grad) {
  OpCase c;
  c.op = "adaptive_avgpool";
  c.shape = "x" + dims(x) + " -> (" + std::to_string(oh) + "," + std::to_string(ow) + ") K" + std::to_string(kK);
  const Shape ys{x[0], x[1], oh, ow};
  c.inputs = {in(x), in(ys), in(fold_k(ys, kK))};
  c.outputs = {"forward", "backward K=1", "backward K=3"};
  c.run = [=](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
    return {be.adaptive_avgpool_forward(v[0], oh, ow), be.adaptive_avgpool_backward(v[1], x, 1),
            be.adaptive_avgpool_backward(v[2], x, kK)};
  };
  if (grad) {
    c.grad = [=](const std::vector<Var>& v, const std::vector<Tensor>&) { return adaptive_avgpool2d(v[0], oh, ow); };
    c.grad_inputs = {0};
  }
  return c;
}

void pool_cases(std::vector<OpCase>& t) {
  const auto sq = [](int k, int s, int pad, bool ceil_mode, bool include_pad = true) {
    return pool_params(k, k, s, s, pad, pad, ceil_mode, include_pad);
  };
  // gradient-checked (distinct values: no two candidates of a window within reach of h)
  for (const Pool2dParams& p : {pool_params(3, 3, 2, 2, 1, 1, false), pool_params(3, 3, 2, 2, 1, 1, true),
                                pool_params(2, 3, 2, 2, 1, 0, true), pool_params(2, 2, 1, 3, 0, 1, false)})
    t.push_back(maxpool_case({2, 3, 7, 8}, p, Gen::Distinct, true));
  for (const Pool2dParams& p : {sq(3, 2, 1, false), sq(3, 2, 1, true), sq(2, 2, 0, true), sq(5, 3, 2, true)}) {
    t.push_back(maxpool_case({2, 3, 7, 8}, p, Gen::Distinct, false));
    t.push_back(maxpool_case({3, 17, 32, 31}, p, Gen::Distinct, false));
  }
  // the former CudaOps cases, with and without ties (first max wins)
  const std::vector<std::pair<Shape, Pool2dParams>> mp{
      {{2, 3, 11, 9}, pool_params(3, 3, 2, 2, 1, 1, false)}, {{1, 4, 10, 13}, pool_params(3, 2, 2, 1, 1, 0, true)},
      {{2, 2, 7, 7}, pool_params(2, 2, 2, 2, 0, 0, true)},   {{3, 5, 6, 8}, pool_params(6, 8, 6, 8, 0, 0, false)},
      {{1, 2, 64, 40}, pool_params(5, 5, 1, 1, 2, 2, false)}};
  for (const auto& [x, p] : mp) {
    t.push_back(maxpool_case(x, p, Gen::Distinct, false));
    t.push_back(maxpool_case(x, p, Gen::Ties, false));
  }
  t.push_back(maxpool_case({2, 3, 5, 4}, pool_params(5, 4, 5, 4, 0, 0, false), Gen::Distinct, true));  // global max
  t.push_back(maxpool_case({0, 3, 7, 8}, sq(3, 2, 1, false), Gen::Normal, false));                      // empty batch

  for (bool include_pad : {true, false})
    for (bool ceil_mode : {false, true}) {
      t.push_back(avgpool_case({2, 2, 7, 6}, pool_params(3, 3, 2, 2, 1, 1, ceil_mode, include_pad), true));
      t.push_back(avgpool_case({2, 2, 7, 6}, pool_params(2, 3, 2, 1, 1, 1, ceil_mode, include_pad), true));
      for (const Pool2dParams& p : {sq(3, 2, 1, ceil_mode, include_pad), sq(2, 3, 1, ceil_mode, include_pad)}) {
        t.push_back(avgpool_case({2, 3, 7, 8}, p, false));
        t.push_back(avgpool_case({6, 17, 33, 29}, p, false));
      }
    }
  t.push_back(avgpool_case({2, 3, 11, 9}, pool_params(3, 3, 2, 2, 1, 1, false, true), false));
  t.push_back(avgpool_case({2, 3, 11, 9}, pool_params(3, 3, 2, 2, 1, 1, false, false), false));
  t.push_back(avgpool_case({1, 4, 10, 13}, pool_params(3, 2, 2, 1, 1, 1, true, true), false));
  t.push_back(avgpool_case({1, 4, 10, 13}, pool_params(3, 2, 2, 1, 1, 1, true, false), false));
  t.push_back(avgpool_case({2, 2, 7, 7}, pool_params(2, 2, 2, 2, 0, 0, true, true), false));
  t.push_back(avgpool_case({1, 3, 8, 8}, pool_params(4, 4, 1, 1, 2, 2, false, true), false));
  t.push_back(avgpool_case({0, 3, 7, 8}, sq(3, 2, 1, false), false));  // empty batch

  struct Ad {
    Shape x;
    int oh, ow;
    bool grad;
  };
  for (const Ad& a : {Ad{{1, 2, 10, 9}, 7, 7, true}, Ad{{2, 3, 5, 6}, 1, 1, true}, Ad{{1, 2, 8, 7}, 3, 5, true},
                      Ad{{1, 1, 3, 2}, 7, 7, true}, Ad{{2, 3, 10, 9}, 7, 7, false}, Ad{{3, 5, 7, 6}, 1, 1, false},
                      Ad{{2, 4, 8, 7}, 3, 5, false}, Ad{{8, 40, 13, 17}, 7, 7, false}, Ad{{2, 3, 7, 10}, 3, 4, false},
                      Ad{{2, 2, 5, 6}, 7, 9, false}, Ad{{1, 4, 13, 11}, 6, 6, false}, Ad{{0, 3, 5, 5}, 2, 2, false}})
    t.push_back(adaptive_case(a.x, a.oh, a.ow, a.grad));
}

// ---- dense and loss
void dense_cases(std::vector<OpCase>& t) {
  struct Lin {
    int64_t N, I, O;
    bool bias, grad;
  };
  for (const Lin& l : {Lin{1, 1, 1, true, true}, Lin{3, 5, 4, true, true}, Lin{1, 7, 2, false, true},
                       Lin{3, 7, 5, true, false}, Lin{70, 33, 19, false, false}, Lin{37, 64, 101, true, false},
                       Lin{300, 128, 200, true, false}, Lin{1, 2048, 1000, true, false}, Lin{1, 2048, 1000, false, false},
                       Lin{3, 7, 5, false, false}, Lin{8, 33, 17, true, false}, Lin{8, 33, 17, false, false},
                       Lin{0, 6, 4, true, false}}) {
    OpCase c;
    c.op = "linear";
    c.shape = "x(" + std::to_string(l.N) + "," + std::to_string(l.I) + ") w(" + std::to_string(l.O) + "," +
              std::to_string(l.I) + ")" + (l.bias ? " bias" : "") + " K" + std::to_string(kK);
    c.inputs = {in({l.N, l.I}), in({l.O, l.I}), in({l.N, l.O}), in({kK * l.N, l.O}), in({l.O})};
    const bool bias = l.bias;
    c.outputs = {"forward", "backward data K=1", "backward data K=3", "backward weight"};
    c.run = [bias](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      return {be.linear_forward(v[0], v[1], bias ? v[4] : Tensor()),
              be.linear_backward_data(v[2], v[1], v[0].shape(), 1),
              be.linear_backward_data(v[3], v[1], v[0].shape(), kK), be.linear_backward_weight(v[0], v[2])};
    };
    if (l.grad) {
      c.grad = [bias](const std::vector<Var>& v, const std::vector<Tensor>&) {
        return linear(v[0], v[1], bias ? v[2] : Var{});
      };
      c.grad_inputs = bias ? std::vector<int>{0, 1, 4} : std::vector<int>{0, 1};
    }
    t.push_back(c);
  }
  for (auto [N, C, grad] : std::vector<std::tuple<int64_t, int, bool>>{
           {4, 5, true}, {4, 10, false}, {3, 1000, false}, {1, 3, true}, {7, 2, false}}) {
    OpCase c;
    c.op = "softmax_xent";
    c.shape = "logits(" + std::to_string(N) + "," + std::to_string(C) + ") K" + std::to_string(kK);
    c.inputs = {in({N, C}, Gen::Normal, 3.0), labels_in(N, C), in({kK})};
    c.outputs = {"loss", "probs", "backward K=1", "backward K=3"};
    c.run = [](Backend& be, const std::vector<Tensor>& v) -> std::vector<Tensor> {
      Tensor probs;
      const Tensor loss = be.softmax_xent_forward(v[0], v[1], probs);
      return {loss, probs, be.softmax_xent_backward(v[2].slice0(0, 1), probs, v[1], 1),
              be.softmax_xent_backward(v[2], probs, v[1], kK)};
    };
    if (grad) {
      c.grad = [](const std::vector<Var>& v, const std::vector<Tensor>& x) { return cross_entropy(v[0], x[1]); };
      c.grad_inputs = {0};
    }
    t.push_back(c);
  }
}

// ---- what every backend must reject: a gradient of the right size but the wrong shape
// must not be coerced, and a K-stacked operand must be stacked exactly the K given.
OpCase reject(const std::string& op, const std::string& shape, std::vector<InputSpec> inputs, RunFn run,
              const std::string& error = "ShapeError") {
  OpCase c;
  c.op = op;
  c.shape = shape;
  c.inputs = std::move(inputs);
  c.outputs = {"result"};
  c.run = std::move(run);
  c.expect_error = error;
  return c;
}

// Every op with a K-stacked operand, given a K that does not match: operands stacked 3
// times (or a scalar per block for 3 blocks) with K = 2 are ShapeErrors, K = 0 a ValueError.
void k_error_cases(std::vector<OpCase>& t) {
  using V = const std::vector<Tensor>&;
  const Shape x{2, 3, 6, 6};
  for (int64_t K : {2, 0}) {
    const std::string k = " K" + std::to_string(K) + (K == 0 ? "" : " given, stacked 3");
    const std::string err = K == 0 ? "ValueError" : "ShapeError";
    t.push_back(reject("relu", "gy(6,3,6,6) y(2,3,6,6)" + k, {in(fold_k(x, 3)), in(x)},
                       [K](Backend& be, V v) -> std::vector<Tensor> { return {be.relu_backward(v[0], v[1], K)}; },
                       err));
    t.push_back(reject("mul_tiled", "g(6,3,6,6) m(2,3,6,6)" + k, {in(fold_k(x, 3)), in(x)},
                       [K](Backend& be, V v) -> std::vector<Tensor> { return {be.mul_tiled(v[0], v[1], K)}; }, err));
    t.push_back(reject("sum_blocks", "x(3,5)" + k, {in({3, 5})},
                       [K](Backend& be, V v) -> std::vector<Tensor> { return {be.sum_blocks(v[0], K)}; }, err));
    t.push_back(reject("broadcast_blocks", "g(3) M4" + k, {in({3})},
                       [K](Backend& be, V v) -> std::vector<Tensor> { return {be.broadcast_blocks(v[0], 4, 1.0, K)}; },
                       err));
    t.push_back(reject("conv2d", "backward data: gy(6,4,6,6) x(2,3,6,6) w(4,3,3,3)" + k,
                       {in({6, 4, 6, 6}), in({4, 3, 3, 3})}, [K](Backend& be, V v) -> std::vector<Tensor> {
                         return {be.conv2d_backward_data(v[0], v[1], {2, 3, 6, 6}, conv_params(1, 1, 1, 1), K)};
                       },
                       err));
    t.push_back(reject("batchnorm_train", "backward: gy(6,3,6,6) xhat(2,3,6,6)" + k,
                       {in(x), in({3}), in({3}), in(fold_k(x, 3))}, [K](Backend& be, V v) -> std::vector<Tensor> {
                         Tensor mean, var, invstd, xhat, gg, gb;
                         be.batchnorm_train_forward(v[0], v[1], v[2], 1e-5, mean, var, invstd, xhat);
                         return {be.batchnorm_train_backward(v[3], xhat, v[1], invstd, K, gg, gb)};
                       },
                       err));
    t.push_back(reject("maxpool", "backward: gy(6,3,3,3) x(2,3,6,6)" + k, {in(x), in({6, 3, 3, 3})},
                       [K](Backend& be, V v) -> std::vector<Tensor> {
                         Tensor idx;
                         be.maxpool_forward(v[0], pool_params(2, 2, 2, 2, 0, 0, false), idx);
                         return {be.maxpool_backward(v[1], idx, v[0].shape(), K)};
                       },
                       err));
    t.push_back(reject("avgpool", "backward: gy(6,3,3,3) x(2,3,6,6)" + k, {in({6, 3, 3, 3})},
                       [K](Backend& be, V v) -> std::vector<Tensor> {
                         return {be.avgpool_backward(v[0], {2, 3, 6, 6}, pool_params(2, 2, 2, 2, 0, 0, false), K)};
                       },
                       err));
    t.push_back(reject("adaptive_avgpool", "backward: gy(6,3,2,2) x(2,3,6,6)" + k, {in({6, 3, 2, 2})},
                       [K](Backend& be, V v) -> std::vector<Tensor> {
                         return {be.adaptive_avgpool_backward(v[0], {2, 3, 6, 6}, K)};
                       },
                       err));
    t.push_back(reject("linear", "backward data: gy(6,4) x(2,5) w(4,5)" + k, {in({6, 4}), in({4, 5})},
                       [K](Backend& be, V v) -> std::vector<Tensor> {
                         return {be.linear_backward_data(v[0], v[1], {2, 5}, K)};
                       },
                       err));
    t.push_back(reject("softmax_xent", "backward: g(3) logits(2,4)" + k, {in({2, 4}), labels_in(2, 4), in({3})},
                       [K](Backend& be, V v) -> std::vector<Tensor> {
                         Tensor probs;
                         be.softmax_xent_forward(v[0], v[1], probs);
                         return {be.softmax_xent_backward(v[2], probs, v[1], K)};
                       },
                       err));
  }
}

void error_cases(std::vector<OpCase>& t) {
  using V = const std::vector<Tensor>&;
  t.push_back(reject("relu", "gy(3,2,4,4) y(2,3,4,4): same size, wrong shape", {in({3, 2, 4, 4}), in({2, 3, 4, 4})},
                     [](Backend& be, V v) -> std::vector<Tensor> { return {be.relu_backward(v[0], v[1], 1)}; }));
  t.push_back(reject("relu", "gy(7) y(2) K3: not whole copies", {in({7}), in({2})},
                     [](Backend& be, V v) -> std::vector<Tensor> { return {be.relu_backward(v[0], v[1], 3)}; }));
  t.push_back(reject("mul_tiled", "g(3,2,4,4) m(2,3,4,4)", {in({3, 2, 4, 4}), in({2, 3, 4, 4})},
                     [](Backend& be, V v) -> std::vector<Tensor> { return {be.mul_tiled(v[0], v[1], 1)}; }));
  t.push_back(reject("batchnorm_train", "gy(6,2,4,4) xhat(2,3,4,4)",
                     {in({2, 3, 4, 4}), in({3}), in({3}), in({6, 2, 4, 4})},
                     [](Backend& be, V v) -> std::vector<Tensor> {
                       Tensor mean, var, invstd, xhat, gg, gb;
                       be.batchnorm_train_forward(v[0], v[1], v[2], 1e-5, mean, var, invstd, xhat);
                       return {be.batchnorm_train_backward(v[3], xhat, v[1], invstd, 2, gg, gb)};
                     }));
  t.push_back(reject("maxpool", "gy(2,3,2,8) indices(2,3,4,4)", {in({2, 3, 8, 8}), in({2, 3, 2, 8})},
                     [](Backend& be, V v) -> std::vector<Tensor> {
                       Tensor idx;
                       be.maxpool_forward(v[0], pool_params(2, 2, 2, 2, 0, 0, false), idx);
                       return {be.maxpool_backward(v[1], idx, {2, 3, 8, 8}, 1)};
                     }));
  t.push_back(reject("conv2d", "backward data: gy(2,4,4,4) for w(4,3,3,3) x(2,3,5,5)",
                     {in({2, 4, 4, 4}), in({4, 3, 3, 3})}, [](Backend& be, V v) -> std::vector<Tensor> {
                       return {be.conv2d_backward_data(v[0], v[1], {2, 3, 5, 5}, Conv2dParams{}, 1)};
                     }));
  t.push_back(reject("conv2d", "backward filter: gy(2,4,4,4) for x(2,3,5,5) w(4,3,3,3)",
                     {in({2, 3, 5, 5}), in({2, 4, 4, 4})}, [](Backend& be, V v) -> std::vector<Tensor> {
                       return {be.conv2d_backward_filter(v[0], v[1], {4, 3, 3, 3}, Conv2dParams{})};
                     }));
  t.push_back(reject("add", "a(2,3,5,5) b(2,4,4,4)", {in({2, 3, 5, 5}), in({2, 4, 4, 4})},
                     [](Backend& be, V v) -> std::vector<Tensor> { return {be.add(v[0], v[1])}; }));
  t.push_back(reject("add", "a(2,3,4) b(3,2,4): same size, wrong shape", {in({2, 3, 4}), in({3, 2, 4})},
                     [](Backend& be, V v) -> std::vector<Tensor> { return {be.add(v[0], v[1])}; }));
  k_error_cases(t);
}

}  // namespace

std::vector<OpCase> all_op_cases() {
  std::vector<OpCase> t;
  conv_cases(t);
  elementwise_cases(t);
  norm_cases(t);
  pool_cases(t);
  dense_cases(t);
  error_cases(t);
  return t;
}

}  // namespace sv::test
