// The research primitives, part 2: quadrature rules, Integrated Gradients and baselines.
//
// IG of <G, φ> (docs/method.md §4):  S = (x − x̄) ⊙ Σ_s w_s ∂<G, φ>/∂x (x̄ + t_s (x − x̄)).
// The interpolation points of all steps are one batch (Backend::interpolate), run
// forward in passes of at most max_batch images; each pass's backward carries the
// cotangent G repeated for every step (K cotangents at once, chunked so that K times the
// batch stays near max_batch), and the weighted sum over steps accumulates on the device.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "apps/chunks.h"
#include "apps/io/npy.h"
#include "apps/primitives_util.h"

namespace sv {

namespace {

// Legendre P_n(x) and its derivative, by the three-term recurrence.
void legendre(int n, double x, double& p, double& dp) {
  double p0 = 1.0, p1 = x;
  for (int j = 2; j <= n; ++j) {
    const double p2 = ((2.0 * j - 1.0) * x * p1 - (j - 1.0) * p0) / j;
    p0 = p1;
    p1 = p2;
  }
  p = p1;
  dp = n * (x * p1 - p0) / (x * x - 1.0);
}

// Gauss–Legendre on [-1, 1]: the roots of P_n by Newton's method from Tricomi-like guesses,
// weights 2 / ((1 − x²) P_n'(x)²); mapped to [0, 1] in ascending order.
void gauss_legendre(int n, std::vector<double>& t, std::vector<double>& w) {
  t.assign(n, 0.0);
  w.assign(n, 0.0);
  for (int i = 0; i < n; ++i) {
    double x = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5)), p, dp;
    for (int it = 0; it < 100; ++it) {
      legendre(n, x, p, dp);
      const double dx = p / dp;
      x -= dx;
      if (std::abs(dx) < 1e-16) break;
    }
    legendre(n, x, p, dp);
    t[i] = (1.0 - x) / 2.0;  // x descends with i, so t ascends
    w[i] = 1.0 / ((1.0 - x * x) * dp * dp);  // (2 / (...)) / 2 for the interval [0, 1]
  }
}

}  // namespace

void quadrature(IgRule rule, int steps, std::vector<double>& t, std::vector<double>& w) {
  SV_CHECK(steps >= 1, ValueError, "IG needs at least 1 step, got " + std::to_string(steps));
  switch (rule) {
    case IgRule::GaussLegendre:
      gauss_legendre(steps, t, w);
      return;
    case IgRule::Midpoint:
      t.resize(steps);
      w.assign(steps, 1.0 / steps);
      for (int s = 0; s < steps; ++s) t[s] = (s + 0.5) / steps;
      return;
    case IgRule::Trapezoid:
      SV_CHECK(steps >= 2, ValueError, "the trapezoid rule needs at least 2 steps, got " + std::to_string(steps));
      t.resize(steps);
      w.assign(steps, 1.0 / (steps - 1));
      for (int s = 0; s < steps; ++s) t[s] = static_cast<double>(s) / (steps - 1);
      w.front() = w.back() = 0.5 / (steps - 1);
      return;
  }
}

Tensor integrated_gradients(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                            const Tensor& G, const Tensor& baseline, int steps, IgRule rule, int64_t max_batch,
                            const ProgressFn& progress) {
  detail::check_images(m, x, "integrated_gradients");
  SV_CHECK(baseline.defined() && baseline.shape() == x.shape(), ShapeError,
           "integrated_gradients: baseline " + (baseline.defined() ? shape_str(baseline.shape()) : std::string("()")) +
               " must have the input's shape " + shape_str(x.shape()));
  SV_CHECK(G.defined() && (G.ndim() == 2 || G.ndim() == 3), ShapeError,
           "cotangent G must be (N, D) or (K, N, D), got " + (G.defined() ? shape_str(G.shape()) : std::string("nothing")));
  std::vector<double> t, w;
  quadrature(rule, steps, t, w);
  model_to(m, be);
  const DType dt = detail::model_dtype(m);
  const int64_t N = x.dim(0), K = G.ndim() == 3 ? G.dim(0) : 1;
  const int64_t limit = max_batch > 0 ? max_batch : N * steps;
  const int64_t nb = std::min(N, limit);                        // images per pass
  const int64_t sb = std::clamp<int64_t>(limit / nb, 1, steps);  // steps per pass
  const int64_t per_image = x.numel() / N;
  const Tensor xs = x.to(dt), bs = baseline.to(dt);

  Shape out_shape = x.shape();
  out_shape.insert(out_shape.begin(), K);
  Tensor out = Tensor::empty(out_shape, dt);  // (K, N, C, H, W)
  int64_t done = 0;
  Tensor g3;  // G as (K, N, D), checked once D is known
  for_each_chunk(N, nb, [&](int64_t n0, int64_t n1) {
    const int64_t nc = n1 - n0;
    const Tensor x0 = be.upload(bs.slice0(n0, n1)), x1 = be.upload(xs.slice0(n0, n1));
    Shape acc_shape = x.shape();
    acc_shape[0] = K * nc;
    Tensor acc = be.zeros(acc_shape, dt);  // (K*nc, C, H, W): Σ_s w_s ∂<G_k, φ>/∂x at the points
    for_each_chunk(steps, sb, [&](int64_t s0, int64_t s1) {
      const int64_t ns = s1 - s0, B = ns * nc;
      const std::vector<double> ts(t.begin() + s0, t.begin() + s1);
      Graph g(be, true);
      Var xv = g.input(be.interpolate(x0, x1, ts), true);  // (ns*nc, C, H, W), step-major
      Var phi = layer_features(m, g, xv, layer, pool);
      // G's rows for these images, repeated for every step: (K, ns*nc, D).
      const int64_t D = phi.dim(1);
      if (!g3.defined()) g3 = detail::k_stacked_cotangent(G, {N, D}, layer, pool).to(dt);
      Tensor cot = Tensor::empty({K, B, D}, dt);
      const size_t es = dtype_size(dt);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t s = 0; s < ns; ++s)
          std::memcpy(static_cast<char*>(cot.raw()) + static_cast<size_t>((k * B + s * nc) * D) * es,
                      static_cast<const char*>(g3.raw()) + static_cast<size_t>((k * N + n0) * D) * es,
                      static_cast<size_t>(nc * D) * es);
      for_each_chunk(K, std::max<int64_t>(1, limit / B), [&](int64_t k0, int64_t k1) {
        Tensor grad = g.vjp(phi, cot.slice0(k0, k1), {xv})[0];  // (k1-k0, B, C, H, W) on the device
        Shape flat = x.shape();
        flat[0] = (k1 - k0) * B;
        grad = grad.reshape(flat);
        for (int64_t k = k0; k < k1; ++k)
          for (int64_t s = 0; s < ns; ++s) {
            Tensor dst = acc.slice0(k * nc, (k + 1) * nc);
            const int64_t r0 = (k - k0) * B + s * nc;
            be.axpy_(dst, grad.slice0(r0, r0 + nc), w[s0 + s]);
          }
      });
      done += B;
      if (progress) progress(done, N * steps);
    });
    // S = (x − x̄) ⊙ acc, for every cotangent, on the device: (K*nc, C, H, W).
    const Tensor s_chunk = be.download(be.mul_tiled(acc, be.add(x1, be.scale(x0, -1.0)), K));
    Tensor dst = out.reshape({K * N, per_image});
    for (int64_t k = 0; k < K; ++k)
      detail::copy_rows(dst, k * N + n0, s_chunk.reshape({K * nc, per_image}).slice0(k * nc, (k + 1) * nc));
  });
  return G.ndim() == 2 ? out.reshape(x.shape()) : out;
}

std::vector<double> ig_completeness_gap(const Tensor& S, const Tensor& G, const Tensor& phi_x,
                                        const Tensor& phi_baseline) {
  SV_CHECK(phi_x.ndim() == 2 && phi_baseline.shape() == phi_x.shape(), ShapeError,
           "completeness gap: features must be (N, D) of one shape, got " + shape_str(phi_x.shape()) + " and " +
               shape_str(phi_baseline.shape()));
  const int64_t N = phi_x.dim(0), D = phi_x.dim(1);
  const int64_t K = G.ndim() == 3 ? G.dim(0) : 1;
  SV_CHECK(G.numel() == K * N * D, ShapeError,
           "completeness gap: G " + shape_str(G.shape()) + " does not match features " + shape_str(phi_x.shape()));
  SV_CHECK(S.numel() % (K * N) == 0 && S.dim(0) == (G.ndim() == 3 ? K : N), ShapeError,
           "completeness gap: attributions " + shape_str(S.shape()) + " do not match G " + shape_str(G.shape()));
  const Tensor s = S.to(DType::F64), g = G.to(DType::F64), fx = phi_x.to(DType::F64), fb = phi_baseline.to(DType::F64);
  const int64_t per = S.numel() / (K * N);
  std::vector<double> gap(K * N);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) {
      double total = 0, delta = 0;
      const double* ps = s.data<double>() + (k * N + n) * per;
      for (int64_t i = 0; i < per; ++i) total += ps[i];
      const double* pg = g.data<double>() + (k * N + n) * D;
      for (int64_t d = 0; d < D; ++d) delta += pg[d] * (fx.data<double>()[n * D + d] - fb.data<double>()[n * D + d]);
      const double err = std::abs(total - delta);
      gap[k * N + n] = std::abs(delta) > 0 ? err / std::abs(delta) : err;
    }
  return gap;
}

// ---- baselines
namespace {

// Index into [0, n) by reflection without repeating the edge (torch's 'reflect' padding),
// folded as often as needed.
int64_t reflect(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// Separable Gaussian blur of every (H, W) plane of x (N, C, H, W) in float64.
Tensor gaussian_blur(const Tensor& x, double sigma) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t r = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3.0 * sigma)));
  std::vector<double> k(2 * r + 1);
  double ksum = 0;
  for (int64_t i = -r; i <= r; ++i) ksum += k[i + r] = std::exp(-0.5 * (i * i) / (sigma * sigma));
  for (double& v : k) v /= ksum;
  Tensor in = x.to(DType::F64), tmp = Tensor::empty(x.shape(), DType::F64), out = Tensor::empty(x.shape(), DType::F64);
  const double* pi = in.data<double>();
  double* pt = tmp.data<double>();
  double* po = out.data<double>();
  for (int64_t p = 0; p < N * C; ++p) {
    const double* a = pi + p * H * W;
    double* b = pt + p * H * W;
    double* c = po + p * H * W;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) {
        double acc = 0;
        for (int64_t i = -r; i <= r; ++i) acc += k[i + r] * a[y * W + reflect(xx + i, W)];
        b[y * W + xx] = acc;
      }
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) {
        double acc = 0;
        for (int64_t i = -r; i <= r; ++i) acc += k[i + r] * b[reflect(y + i, H) * W + xx];
        c[y * W + xx] = acc;
      }
  }
  return out.to(x.dtype());
}

}  // namespace

Tensor make_baseline(const std::string& spec, const Tensor& x, const ModelInfo& info) {
  SV_CHECK(x.defined() && x.ndim() == 4 && x.is_cpu(), ShapeError,
           "baseline: input must be host images (N, C, H, W), got " + (x.defined() ? shape_str(x.shape()) : std::string("nothing")));
  const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  if (spec == "zero") return Tensor::zeros(x.shape(), x.dtype());
  if (spec == "black") {
    SV_CHECK(static_cast<int64_t>(info.mean.size()) == C && static_cast<int64_t>(info.std.size()) == C, ValueError,
             "baseline black: the model's mean/std have " + std::to_string(info.mean.size()) + " values for " +
                 std::to_string(C) + " channels");
    Tensor b = Tensor::empty(x.shape(), DType::F64);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        std::fill_n(b.data<double>() + (n * C + c) * HW, HW, -static_cast<double>(info.mean[c]) / info.std[c]);
    return b.to(x.dtype());
  }
  if (spec == "blur") return gaussian_blur(x, 0.1 * static_cast<double>(x.dim(3)));
  if (spec == "mean") {
    Tensor in = x.to(DType::F64), b = Tensor::empty(x.shape(), DType::F64);
    for (int64_t p = 0; p < N * C; ++p) {
      double s = 0;
      for (int64_t i = 0; i < HW; ++i) s += in.data<double>()[p * HW + i];
      std::fill_n(b.data<double>() + p * HW, HW, s / static_cast<double>(HW));
    }
    return b.to(x.dtype());
  }
  const bool is_npy = spec.size() > 4 && spec.compare(spec.size() - 4, 4, ".npy") == 0;
  SV_CHECK(is_npy, ValueError, "unknown baseline '" + spec + "' (expected zero, black, blur, mean or a .npy file)");
  Tensor b = read_npy(spec);
  // (N, C, H, W), or one image (C, H, W) / (1, C, H, W) used for every input.
  const Shape one(x.shape().begin() + 1, x.shape().end());
  Shape one4 = one;
  one4.insert(one4.begin(), 1);
  if (b.shape() == x.shape()) return b.to(x.dtype());
  SV_CHECK(b.shape() == one || b.shape() == one4, ShapeError,
           spec + ": baseline has shape " + shape_str(b.shape()) + ", expected the input's " + shape_str(x.shape()) +
               " or one image " + shape_str(one));
  Tensor out = Tensor::empty(x.shape(), DType::F32);
  for (int64_t n = 0; n < N; ++n) std::copy_n(b.data<float>(), b.numel(), out.data<float>() + n * b.numel());
  return out.to(x.dtype());
}

}  // namespace sv
