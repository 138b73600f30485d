#include "backends/backend_check.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <vector>

namespace sv {

std::string compare_to_reference(const Tensor& got, const Tensor& want, double tol) {
  if (!got.defined() || !want.defined()) return got.defined() == want.defined() ? "" : "one output is missing";
  if (got.shape() != want.shape())
    return "shape " + shape_str(got.shape()) + ", the reference's is " + shape_str(want.shape());
  const Tensor g = got.to(DType::F64), w = want.to(DType::F64);
  const double* pg = g.data<double>();
  const double* pw = w.data<double>();
  double scale = 0, worst = 0;
  int64_t worst_at = 0;
  for (int64_t i = 0; i < w.numel(); ++i) scale = std::max(scale, std::abs(pw[i]));
  for (int64_t i = 0; i < w.numel(); ++i) {
    if (std::isfinite(pw[i]) && !std::isfinite(pg[i])) {
      std::ostringstream os;
      os << "element " << i << " is " << pg[i] << ", the reference's " << pw[i];
      return os.str();
    }
    const double d = std::abs(pg[i] - pw[i]);
    if (d > worst) worst = d, worst_at = i;
  }
  if (worst <= tol * scale) return "";
  std::ostringstream os;
  os << "max |error| " << worst << " at element " << worst_at << " (" << pg[worst_at] << " vs " << pw[worst_at]
     << ") exceeds " << tol << " x max |reference| = " << tol * scale;
  return os.str();
}

namespace {

// One op family's check: runs on a backend from host inputs, returns its outputs.
struct Case {
  std::string name;
  double tol;
  std::function<std::vector<Tensor>(Backend&)> run;
};

class Inputs {
 public:
  Tensor normal(const Shape& s) {
    std::normal_distribution<float> nd(0.f, 1.f);
    Tensor t = Tensor::empty(s, DType::F32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(rng_);
    return t;
  }
  Tensor positive(const Shape& s) {  // batchnorm scales, in [0.5, 1.5)
    std::uniform_real_distribution<float> ud(0.5f, 1.5f);
    Tensor t = Tensor::empty(s, DType::F32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = ud(rng_);
    return t;
  }

 private:
  std::mt19937 rng_{20241210};
};

Conv2dParams conv(int stride, int pad, int groups = 1) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.groups = groups;
  return p;
}

Pool2dParams pool(int k, int stride, int pad, bool count_include_pad = true) {
  Pool2dParams p;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.count_include_pad = count_include_pad;
  return p;
}

// A convolution's forward (with bias, and fused with ReLU), and its backward with respect
// to the data for K = 2 stacked cotangents and to the filter.
void add_conv(std::vector<Case>& cases, Inputs& in, const std::string& name, const Shape& x_shape,
              const Shape& w_shape, const Conv2dParams& p) {
  const Tensor x = in.normal(x_shape), w = in.normal(w_shape), b = in.normal({w_shape[0]});
  const Shape y_shape = conv2d_out_shape(x_shape, w_shape, p);
  const Shape yk = fold_k(y_shape, 2);
  const Tensor gy = in.normal(y_shape), gyk = in.normal(yk);
  cases.push_back({"conv2d " + name + " forward", kConvCheckTol, [=](Backend& be) {
                     const Tensor xd = be.upload(x), wd = be.upload(w), bd = be.upload(b);
                     return std::vector<Tensor>{be.conv2d_forward(xd, wd, bd, p), be.conv2d_relu_forward(xd, wd, bd, p)};
                   }});
  cases.push_back({"conv2d " + name + " backward", kConvCheckTol, [=](Backend& be) {
                     return std::vector<Tensor>{
                         be.conv2d_backward_data(be.upload(gyk), be.upload(w), x_shape, p, 2),
                         be.conv2d_backward_filter(be.upload(x), be.upload(gy), w_shape, p)};
                   }});
}

std::vector<Case> make_cases() {
  Inputs in;
  std::vector<Case> cases;
  add_conv(cases, in, "3x3", {2, 8, 10, 10}, {16, 8, 3, 3}, conv(1, 1));
  add_conv(cases, in, "7x7 stride 2", {2, 3, 17, 17}, {8, 3, 7, 7}, conv(2, 3));
  add_conv(cases, in, "1x1 stride 2", {2, 16, 9, 9}, {8, 16, 1, 1}, conv(2, 0));
  add_conv(cases, in, "3x3 groups 2", {2, 4, 9, 9}, {6, 2, 3, 3}, conv(2, 1, 2));

  const Tensor x = in.normal({2, 8, 9, 9}), xk = in.normal({4, 8, 9, 9});
  const Tensor a = in.positive({8}), c = in.normal({8});
  cases.push_back({"batchnorm2d eval", kCheckTol, [=](Backend& be) {
                     const Tensor ad = be.upload(a);
                     return std::vector<Tensor>{be.channel_affine(be.upload(x), ad, be.upload(c)),
                                                be.channel_affine(be.upload(xk), ad, Tensor())};  // K = 2 backward
                   }});
  cases.push_back({"batchnorm2d train", kCheckTol, [=](Backend& be) {
                     const Tensor ad = be.upload(a);
                     Tensor mean, var, invstd, xhat, ga, gb;
                     const Tensor y = be.batchnorm_train_forward(be.upload(x), ad, be.upload(c), 1e-5, mean, var,
                                                                 invstd, xhat);
                     const Tensor gx = be.batchnorm_train_backward(be.upload(xk), xhat, ad, invstd, 2, ga, gb);
                     return std::vector<Tensor>{y, var, gx, ga, gb};
                   }});
  const Pool2dParams mp = pool(3, 2, 1);
  const Tensor gmp = in.normal(fold_k(pool2d_out_shape(x.shape(), mp, "maxpool"), 2));
  cases.push_back({"maxpool2d 3x3 stride 2", kCheckTol, [=](Backend& be) {
                     Tensor idx;
                     const Tensor y = be.maxpool_forward(be.upload(x), mp, idx);
                     return std::vector<Tensor>{y, idx, be.maxpool_backward(be.upload(gmp), idx, x.shape(), 2)};
                   }});
  const Pool2dParams ap = pool(3, 2, 1, /*count_include_pad=*/false);
  const Tensor gap = in.normal(fold_k(pool2d_out_shape(x.shape(), ap, "avgpool"), 2));
  const Tensor gad = in.normal({4, 8, 2, 3});
  cases.push_back({"avgpool2d 3x3 stride 2, adaptive avgpool2d", kCheckTol, [=](Backend& be) {
                     return std::vector<Tensor>{
                         be.avgpool_forward(be.upload(x), ap), be.avgpool_backward(be.upload(gap), x.shape(), ap, 2),
                         be.adaptive_avgpool_forward(be.upload(x), 2, 3),
                         be.adaptive_avgpool_backward(be.upload(gad), x.shape(), 2)};
                   }});
  const Tensor gr = in.normal(xk.shape());
  const Tensor x2 = in.normal(x.shape());
  cases.push_back({"relu", kCheckTol, [=](Backend& be) {
                     const Tensor y = be.relu_forward(be.upload(x));
                     return std::vector<Tensor>{y, be.relu_backward(be.upload(gr), y, 2),
                                                be.add_relu(be.upload(x), be.upload(x2))};
                   }});
  const Tensor lx = in.normal({3, 40}), lw = in.normal({10, 40}), lb = in.normal({10}), lg = in.normal({6, 10});
  cases.push_back({"linear", kCheckTol, [=](Backend& be) {
                     const Tensor wd = be.upload(lw), gd = be.upload(lg);
                     return std::vector<Tensor>{be.linear_forward(be.upload(lx), wd, be.upload(lb)),
                                                be.linear_backward_data(gd, wd, lx.shape(), 2),
                                                be.linear_backward_weight(be.upload(lx), gd.slice0(0, 3))};
                   }});
  cases.push_back({"add, mul, sums", kCheckTol, [=](Backend& be) {
                     const Tensor xd = be.upload(x), kd = be.upload(xk);
                     return std::vector<Tensor>{be.add(xd, xd), be.mul_tiled(kd, xd, 2), be.sum_blocks(kd, 2),
                                                be.channel_sum(kd)};
                   }});
  return cases;
}

std::vector<Tensor> run_on(Backend& be, const Case& c) {
  std::vector<Tensor> out = c.run(be);
  for (Tensor& t : out) t = t.defined() ? be.download(t) : t;
  be.synchronize();
  return out;
}

}  // namespace

BackendCheck check_backend(Backend& candidate, Backend& reference) {
  const auto t0 = std::chrono::steady_clock::now();
  BackendCheck r;
  auto finish = [&](std::string failure) {
    r.failure = std::move(failure);
    r.passed = r.failure.empty();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  for (const Case& c : make_cases()) {
    const std::vector<Tensor> want = run_on(reference, c);
    std::vector<Tensor> got;
    try {
      got = run_on(candidate, c);
    } catch (const std::exception& e) {
      return finish(c.name + ": " + e.what());
    }
    if (got.size() != want.size()) return finish(c.name + ": wrong number of outputs");
    for (size_t i = 0; i < got.size(); ++i) {
      ++r.comparisons;
      const std::string why = compare_to_reference(got[i], want[i], c.tol);
      if (!why.empty()) return finish(c.name + ", output " + std::to_string(i) + ": " + why);
    }
  }
  return finish("");
}

}  // namespace sv
