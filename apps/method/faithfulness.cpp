// Deletion and insertion curves, their normalised areas, and the batching of their step
// images (see faithfulness.h).
#include "apps/method/faithfulness.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "apps/chunks.h"
#include "autodiff/error.h"

namespace sv {

std::string check_faith_baseline(const std::string& s) {
  SV_CHECK(s == "blur" || s == "zero" || s == "mean", ValueError,
           "--faith-baseline must be blur, zero or mean, got '" + s + "'");
  return s;
}

std::vector<int64_t> rank_pixels(const Map2D& m) {
  std::vector<int64_t> order(m.v.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return m.v[static_cast<size_t>(a)] > m.v[static_cast<size_t>(b)];
  });
  return order;
}

std::vector<int64_t> random_ranking(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(0, n)));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

int64_t pixels_at_step(int64_t k, int64_t P, int steps) { return (2 * k * P + steps) / (2 * static_cast<int64_t>(steps)); }

namespace {

template <class T>
void perturb(const T* x, const T* baseline, int64_t C, int64_t HW, const std::vector<int64_t>& ranking, int64_t n,
             bool deletion, T* out) {
  const T* start = deletion ? x : baseline;
  const T* other = deletion ? baseline : x;
  std::copy_n(start, C * HW, out);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = ranking[static_cast<size_t>(i)];
    for (int64_t c = 0; c < C; ++c) out[c * HW + p] = other[c * HW + p];
  }
}

// Every step image of every task, in batches of at most `batch` images of type T.
template <class T>
void run_batches(const std::vector<CurveTask>& tasks, int steps, int64_t batch, DType dtype, const ResponseFn& response,
                 const ProgressFn& progress, std::vector<Curves>& out) {
  const Tensor& x0 = tasks[0].x;
  const int64_t C = x0.dim(0), H = x0.dim(1), W = x0.dim(2), P = H * W, numel = C * P;
  std::vector<Tensor> xs, bs;  // the images and baselines in T (shared when already so)
  for (const CurveTask& t : tasks) {
    xs.push_back(t.x.to(dtype));
    bs.push_back(t.baseline.to(dtype));
  }
  // Image j of the flat list: task j / (2 (steps+1)), then deletion or insertion, then k.
  const int64_t per_task = 2 * (steps + 1), total = per_task * static_cast<int64_t>(tasks.size());
  for_each_chunk(total, batch, [&](int64_t j0, int64_t j1) {
    const int64_t n = j1 - j0;
    Tensor xb = Tensor::empty({n, C, H, W}, dtype);
    std::vector<size_t> task_of(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = j0 + i, t = j / per_task, rem = j % per_task;
      const bool deletion = rem <= steps;
      const int64_t k = deletion ? rem : rem - (steps + 1);
      const auto ti = static_cast<size_t>(t);
      perturb(xs[ti].data<T>(), bs[ti].data<T>(), C, P, tasks[ti].ranking, pixels_at_step(k, P, steps), deletion,
              xb.data<T>() + i * numel);
      task_of[static_cast<size_t>(i)] = ti;
    }
    const std::vector<double> r = response(xb, task_of);
    SV_CHECK(static_cast<int64_t>(r.size()) == n, ShapeError, "deletion_insertion: the response function returned " +
                                                                   std::to_string(r.size()) + " values for " +
                                                                   std::to_string(n) + " images");
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = j0 + i, rem = j % per_task;
      Curves& c = out[static_cast<size_t>(j / per_task)];
      if (rem <= steps)
        c.deletion[static_cast<size_t>(rem)] = r[static_cast<size_t>(i)];
      else
        c.insertion[static_cast<size_t>(rem - steps - 1)] = r[static_cast<size_t>(i)];
    }
    if (progress) progress(j0 + n, total);
  });
}

}  // namespace

void perturbed_image(const double* x, const double* baseline, int64_t C, int64_t HW,
                     const std::vector<int64_t>& ranking, int64_t n, bool deletion, double* out) {
  perturb(x, baseline, C, HW, ranking, n, deletion, out);
}

void perturbed_image(const float* x, const float* baseline, int64_t C, int64_t HW,
                     const std::vector<int64_t>& ranking, int64_t n, bool deletion, float* out) {
  perturb(x, baseline, C, HW, ranking, n, deletion, out);
}

double normalised_auc(const std::vector<double>& r, double r_full, double r_base, double min_drop) {
  const double range = r_full - r_base;
  if (r.size() < 2 || !(range >= std::max(min_drop, 1e-9 * (1 + std::abs(r_full)))))
    return std::numeric_limits<double>::quiet_NaN();
  double auc = 0;
  for (size_t k = 0; k + 1 < r.size(); ++k) auc += 0.5 * ((r[k] - r_base) + (r[k + 1] - r_base)) / range;
  return auc / static_cast<double>(r.size() - 1);
}

std::vector<Curves> deletion_insertion(const std::vector<CurveTask>& tasks, int steps, int64_t batch,
                                       const ResponseFn& response, const ProgressFn& progress) {
  SV_CHECK(steps >= 1, ValueError, "deletion_insertion: steps must be >= 1");
  SV_CHECK(batch >= 1, ValueError, "deletion_insertion: batch must be >= 1");
  std::vector<Curves> out(tasks.size());
  if (tasks.empty()) return out;
  const Tensor& x0 = tasks[0].x;
  SV_CHECK(x0.ndim() == 3, ShapeError, "deletion_insertion: images must be (C, H, W), got " + shape_str(x0.shape()));
  const int64_t P = x0.dim(1) * x0.dim(2);
  for (const CurveTask& t : tasks) {
    SV_CHECK(t.x.shape() == x0.shape() && t.baseline.shape() == x0.shape(), ShapeError,
             "deletion_insertion: every image and baseline must be " + shape_str(x0.shape()));
    SV_CHECK(static_cast<int64_t>(t.ranking.size()) == P, ShapeError,
             "deletion_insertion: a ranking must list all " + std::to_string(P) + " pixels");
  }
  for (Curves& c : out) {
    c.deletion.assign(static_cast<size_t>(steps) + 1, 0.0);
    c.insertion.assign(static_cast<size_t>(steps) + 1, 0.0);
  }
  // The step images in the images' own dtype (float32 for model inputs: no float64 copies).
  if (x0.dtype() == DType::F32)
    run_batches<float>(tasks, steps, batch, DType::F32, response, progress, out);
  else
    run_batches<double>(tasks, steps, batch, DType::F64, response, progress, out);
  for (size_t t = 0; t < out.size(); ++t) {
    // The deletion curve starts at the image and ends at the baseline (every pixel changed).
    Curves& c = out[t];
    c.r_full = c.deletion.front();
    c.r_base = c.deletion.back();
    c.deletion_auc = normalised_auc(c.deletion, c.r_full, c.r_base, tasks[t].min_drop);
    c.insertion_auc = normalised_auc(c.insertion, c.r_full, c.r_base, tasks[t].min_drop);
  }
  return out;
}

}  // namespace sv
