// Cotangents of the shared response and their packing into multi-output backward passes.
#include "apps/method/saliency.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "autodiff/error.h"

namespace sv {

std::vector<double> shared_cotangent(const std::vector<double>& alpha, const std::vector<double>& w,
                                     const Standardizer& st) {
  SV_CHECK(alpha.size() == w.size() && w.size() == st.sigma.size(), ShapeError,
           "shared_cotangent: α, w and σ differ in size");
  std::vector<double> g(w.size(), 0.0);
  for (size_t i = 0; i < g.size(); ++i)
    if (!st.constant[i]) g[i] = alpha[i] * w[i] / st.sigma[i];
  return g;
}

std::vector<double> dimension_cotangent(int64_t d, const std::vector<double>& alpha, const std::vector<double>& w,
                                        const Standardizer& st) {
  SV_CHECK(d >= 0 && static_cast<size_t>(d) < w.size(), ValueError, "dimension_cotangent: dimension out of range");
  std::vector<double> g(w.size(), 0.0);
  const auto i = static_cast<size_t>(d);
  if (!st.constant[i]) g[i] = alpha[i] * w[i] / st.sigma[i];
  return g;
}

BackpropShape backprop_shape(const std::vector<BackpropJob>& jobs, int64_t U, int64_t max_batch) {
  std::vector<int64_t> per_image(static_cast<size_t>(std::max<int64_t>(U, 0)), 0);
  for (const BackpropJob& j : jobs)
    if (j.image >= 0 && j.image < U) ++per_image[static_cast<size_t>(j.image)];
  BackpropShape s;
  int64_t images = 0;
  for (int64_t k : per_image) {
    images += k > 0;
    s.max_k = std::max(s.max_k, k);
  }
  const int64_t b = std::max<int64_t>(1, max_batch);
  s.forward_batches = (images + b - 1) / b;
  return s;
}

BackpropResult parallel_backprop(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                                 const Mat& cot, const std::vector<BackpropJob>& jobs, const AttrOptions& opt,
                                 const ProgressFn& progress) {
  SV_CHECK(x.defined() && x.ndim() == 4, ShapeError, "parallel_backprop: expected images (U, C, H, W)");
  const int64_t U = x.dim(0), D = cot.cols;
  const int64_t max_batch = std::max<int64_t>(1, opt.max_batch);
  BackpropResult res;
  res.saliency.resize(jobs.size());
  res.ig_gap.assign(jobs.size(), std::numeric_limits<double>::quiet_NaN());

  // The jobs of each image; images with the most cotangents first, so that batches pad little.
  std::vector<std::vector<size_t>> by_image(static_cast<size_t>(U));
  for (size_t j = 0; j < jobs.size(); ++j) {
    SV_CHECK(jobs[j].image >= 0 && jobs[j].image < U, ValueError, "parallel_backprop: job image out of range");
    SV_CHECK(jobs[j].cotangent >= 0 && jobs[j].cotangent < cot.rows, ValueError,
             "parallel_backprop: job cotangent out of range");
    by_image[static_cast<size_t>(jobs[j].image)].push_back(j);
  }
  std::vector<int64_t> order;
  for (int64_t u = 0; u < U; ++u)
    if (!by_image[static_cast<size_t>(u)].empty()) order.push_back(u);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return by_image[static_cast<size_t>(a)].size() > by_image[static_cast<size_t>(b)].size();
  });

  const BackpropShape shape = backprop_shape(jobs, U, max_batch);
  res.forward_batches = shape.forward_batches;
  res.max_k = shape.max_k;
  int64_t total = 0;
  for (size_t b0 = 0; b0 < order.size(); b0 += static_cast<size_t>(max_batch))
    total += static_cast<int64_t>(by_image[static_cast<size_t>(order[b0])].size()) *
             static_cast<int64_t>(std::min(order.size() - b0, static_cast<size_t>(max_batch)));
  int64_t done = 0;

  const Shape img = {x.dim(1), x.dim(2), x.dim(3)};
  const int64_t img_numel = shape_numel(img);
  for (size_t b0 = 0; b0 < order.size(); b0 += static_cast<size_t>(max_batch)) {
    const size_t b1 = std::min(order.size(), b0 + static_cast<size_t>(max_batch));
    const auto n = static_cast<int64_t>(b1 - b0);
    const auto K = static_cast<int64_t>(by_image[static_cast<size_t>(order[b0])].size());

    // The batch's images and G (K, n, D): slot k of image i holds its k-th cotangent (or 0).
    Tensor xb = Tensor::empty({n, img[0], img[1], img[2]}, x.dtype());
    const size_t es = dtype_size(x.dtype());
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(static_cast<char*>(xb.raw()) + static_cast<size_t>(i * img_numel) * es,
                  static_cast<const char*>(x.raw()) + static_cast<size_t>(order[b0 + static_cast<size_t>(i)] * img_numel) * es,
                  static_cast<size_t>(img_numel) * es);
    Tensor G = Tensor::zeros({K, n, D}, DType::F64);
    double* g = G.data<double>();
    for (int64_t i = 0; i < n; ++i) {
      const auto& js = by_image[static_cast<size_t>(order[b0 + static_cast<size_t>(i)])];
      for (size_t k = 0; k < js.size(); ++k)
        std::copy(cot.row(jobs[js[k]].cotangent), cot.row(jobs[js[k]].cotangent) + D,
                  g + (static_cast<int64_t>(k) * n + i) * D);
    }

    Tensor S;
    std::vector<double> gaps;
    if (opt.attr == Attr::Grad) {
      S = vjp(m, be, layer, pool, xb, G, std::max<int64_t>(1, max_batch / n));
    } else {
      const Tensor base = make_baseline(opt.baseline, xb, m.info);
      S = integrated_gradients(m, be, layer, pool, xb, G, base, opt.steps, opt.rule, max_batch);
      const Tensor phi_x = features(m, be, layer, pool, xb, max_batch);
      const Tensor phi_b = features(m, be, layer, pool, base, max_batch);
      gaps = ig_completeness_gap(S, G, phi_x, phi_b);
    }
    SV_CHECK(S.ndim() == 5 && S.dim(0) == K && S.dim(1) == n, ShapeError,
             "parallel_backprop: unexpected saliency shape " + shape_str(S.shape()));
    const Tensor flat = S.reshape({K * n, img[0], img[1], img[2]});
    for (int64_t i = 0; i < n; ++i) {
      const auto& js = by_image[static_cast<size_t>(order[b0 + static_cast<size_t>(i)])];
      for (size_t k = 0; k < js.size(); ++k) {
        const int64_t row = static_cast<int64_t>(k) * n + i;
        res.saliency[js[k]] = flat.slice0(row, row + 1).reshape(img).clone();
        if (!gaps.empty()) res.ig_gap[js[k]] = gaps[static_cast<size_t>(row)];
      }
    }
    done += K * n;
    if (progress) progress(done, total);
  }
  return res;
}

}  // namespace sv
