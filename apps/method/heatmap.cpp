// Channel reduction, smoothing, common-scale normalization, colormaps and overlays.
#include "apps/method/heatmap.h"

#include <algorithm>
#include <cmath>

#include "autodiff/error.h"

namespace sv {

namespace {

struct ColorStop {
  float t, r, g, b;
};

// matplotlib's inferno and viridis sampled at entries 0, 16, ..., 240, 255 of their
// 256-entry tables (t = entry / 255): linear interpolation between these 17 stops stays
// within about 1% of the full tables.
constexpr ColorStop kInferno[] = {
    {0 / 255.f, 0.001462f, 0.000466f, 0.013866f},   {16 / 255.f, 0.042253f, 0.028139f, 0.141141f},
    {32 / 255.f, 0.129285f, 0.047293f, 0.290788f},  {48 / 255.f, 0.238273f, 0.036621f, 0.396353f},
    {64 / 255.f, 0.341500f, 0.062325f, 0.429425f},  {80 / 255.f, 0.441207f, 0.099338f, 0.431594f},
    {96 / 255.f, 0.540920f, 0.134729f, 0.415123f},  {112 / 255.f, 0.640135f, 0.171438f, 0.381065f},
    {128 / 255.f, 0.735683f, 0.215906f, 0.330245f}, {144 / 255.f, 0.822386f, 0.275197f, 0.266085f},
    {160 / 255.f, 0.894305f, 0.353399f, 0.193584f}, {176 / 255.f, 0.946965f, 0.449191f, 0.115272f},
    {192 / 255.f, 0.978422f, 0.557937f, 0.034931f}, {208 / 255.f, 0.987874f, 0.675267f, 0.065257f},
    {224 / 255.f, 0.974638f, 0.797692f, 0.206332f}, {240 / 255.f, 0.947594f, 0.917399f, 0.410665f},
    {255 / 255.f, 0.988362f, 0.998364f, 0.644924f},
};
constexpr ColorStop kViridis[] = {
    {0 / 255.f, 0.267004f, 0.004874f, 0.329415f},   {16 / 255.f, 0.282327f, 0.094955f, 0.417331f},
    {32 / 255.f, 0.278826f, 0.175490f, 0.483397f},  {48 / 255.f, 0.258965f, 0.251537f, 0.524736f},
    {64 / 255.f, 0.229739f, 0.322361f, 0.545706f},  {80 / 255.f, 0.199430f, 0.387607f, 0.554642f},
    {96 / 255.f, 0.172719f, 0.448791f, 0.557885f},  {112 / 255.f, 0.149039f, 0.508051f, 0.557250f},
    {128 / 255.f, 0.127568f, 0.566949f, 0.550556f}, {144 / 255.f, 0.120638f, 0.625828f, 0.533488f},
    {160 / 255.f, 0.157851f, 0.683765f, 0.501686f}, {176 / 255.f, 0.246070f, 0.738910f, 0.452024f},
    {192 / 255.f, 0.369214f, 0.788888f, 0.382914f}, {208 / 255.f, 0.515992f, 0.831158f, 0.294279f},
    {224 / 255.f, 0.678489f, 0.863742f, 0.189503f}, {240 / 255.f, 0.845561f, 0.887322f, 0.099702f},
    {255 / 255.f, 0.993248f, 0.906157f, 0.143936f},
};
// matplotlib's jet, from its per-channel piecewise-linear segment data (t, value).
struct Knot {
  float t, v;
};
constexpr Knot kJetR[] = {{0.0f, 0.0f}, {0.35f, 0.0f}, {0.66f, 1.0f}, {0.89f, 1.0f}, {1.0f, 0.5f}};
constexpr Knot kJetG[] = {{0.0f, 0.0f}, {0.125f, 0.0f}, {0.375f, 1.0f}, {0.64f, 1.0f}, {0.91f, 0.0f}, {1.0f, 0.0f}};
constexpr Knot kJetB[] = {{0.0f, 0.5f}, {0.11f, 1.0f}, {0.34f, 1.0f}, {0.65f, 0.0f}, {1.0f, 0.0f}};

template <size_t N>
float piecewise(const Knot (&k)[N], double t) {
  size_t i = 1;
  while (i < N - 1 && k[i].t < t) ++i;
  const double u = std::clamp((t - k[i - 1].t) / (k[i].t - k[i - 1].t), 0.0, 1.0);
  return static_cast<float>(k[i - 1].v + u * (k[i].v - k[i - 1].v));
}
constexpr ColorStop kGray[] = {{0.0f, 0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 1.0f, 1.0f}};

template <size_t N>
std::array<float, 3> lookup(const ColorStop (&stops)[N], double t) {
  t = std::clamp(t, 0.0, 1.0);
  size_t i = 1;
  while (i < N - 1 && stops[i].t < t) ++i;
  const ColorStop& a = stops[i - 1];
  const ColorStop& b = stops[i];
  const double u = b.t > a.t ? std::clamp((t - a.t) / (b.t - a.t), 0.0, 1.0) : 0.0;
  return {static_cast<float>(a.r + u * (b.r - a.r)), static_cast<float>(a.g + u * (b.g - a.g)),
          static_cast<float>(a.b + u * (b.b - a.b))};
}

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); }

// Source coordinate and weights of bilinear sampling (align-corners false).
void bilinear_coord(int dst, int dst_size, int src_size, int& i0, int& i1, double& u) {
  const double s = (dst + 0.5) * src_size / dst_size - 0.5;
  const double c = std::clamp(s, 0.0, static_cast<double>(src_size - 1));
  i0 = static_cast<int>(std::floor(c));
  i1 = std::min(i0 + 1, src_size - 1);
  u = c - i0;
}

}  // namespace

Map2D reduce_channels(const Tensor& s, Reduce r) {
  SV_CHECK(s.ndim() == 3 || (s.ndim() == 4 && s.dim(0) == 1), ShapeError,
           "reduce_channels: expected a saliency (C, H, W), got " + shape_str(s.shape()));
  const int64_t C = s.dim(-3), H = s.dim(-2), W = s.dim(-1);
  const std::vector<float> v = s.to_vector();
  Map2D m;
  m.h = static_cast<int>(H);
  m.w = static_cast<int>(W);
  m.v.assign(static_cast<size_t>(H * W), 0.0f);
  for (int64_t p = 0; p < H * W; ++p) {
    double acc = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double x = v[static_cast<size_t>(c * H * W + p)];
      acc += r == Reduce::AbsSum ? std::abs(x) : r == Reduce::L2 ? x * x : x;
    }
    if (r == Reduce::Pos) acc = std::max(acc, 0.0);
    if (r == Reduce::L2) acc = std::sqrt(acc);
    m.v[static_cast<size_t>(p)] = static_cast<float>(acc);
  }
  return m;
}

void gaussian_smooth(Map2D& m, double sigma_px) {
  if (!(sigma_px > 0) || m.v.empty()) return;
  const int radius = static_cast<int>(std::ceil(3.0 * sigma_px));
  std::vector<double> k(static_cast<size_t>(2 * radius + 1));
  double sum = 0;
  for (int i = -radius; i <= radius; ++i) sum += k[static_cast<size_t>(i + radius)] = std::exp(-0.5 * i * i / (sigma_px * sigma_px));
  for (double& x : k) x /= sum;
  std::vector<float> tmp(m.v.size());
  for (int y = 0; y < m.h; ++y)
    for (int x = 0; x < m.w; ++x) {
      double acc = 0;
      for (int i = -radius; i <= radius; ++i)
        acc += k[static_cast<size_t>(i + radius)] * m.v[static_cast<size_t>(y * m.w + std::clamp(x + i, 0, m.w - 1))];
      tmp[static_cast<size_t>(y * m.w + x)] = static_cast<float>(acc);
    }
  for (int y = 0; y < m.h; ++y)
    for (int x = 0; x < m.w; ++x) {
      double acc = 0;
      for (int i = -radius; i <= radius; ++i)
        acc += k[static_cast<size_t>(i + radius)] * tmp[static_cast<size_t>(std::clamp(y + i, 0, m.h - 1) * m.w + x)];
      m.v[static_cast<size_t>(y * m.w + x)] = static_cast<float>(acc);
    }
}

double percentile(std::vector<float> values, double p) {
  if (values.empty()) return 0.0;
  p = std::clamp(p, 0.0, 100.0);
  const double pos = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(lo), values.end());
  const double a = values[lo];
  double b = a;
  if (hi != lo) b = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(lo) + 1, values.end());
  return a + (pos - static_cast<double>(lo)) * (b - a);
}

double common_scale(const std::vector<const Map2D*>& maps, double pct) {
  std::vector<float> all;
  for (const Map2D* m : maps)
    for (float x : m->v) all.push_back(std::abs(x));
  double scale = percentile(std::move(all), pct);
  if (!(scale > 0)) {
    // The percentile can be 0 for very sparse maps; fall back to the maximum.
    scale = 0;
    for (const Map2D* m : maps)
      for (float x : m->v) scale = std::max(scale, static_cast<double>(std::abs(x)));
  }
  return scale;
}

void apply_scale(const std::vector<Map2D*>& maps, double scale, bool signed_maps) {
  for (Map2D* m : maps)
    for (float& x : m->v) {
      const double y = scale > 0 ? x / scale : 0.0;
      x = static_cast<float>(std::clamp(y, signed_maps ? -1.0 : 0.0, 1.0));
    }
}

double normalize_common(const std::vector<Map2D*>& maps, double pct, bool signed_maps) {
  const double scale = common_scale(std::vector<const Map2D*>(maps.begin(), maps.end()), pct);
  apply_scale(maps, scale, signed_maps);
  return scale;
}

std::array<float, 3> colormap_rgb(Colormap c, double t) {
  switch (c) {
    case Colormap::Inferno: return lookup(kInferno, t);
    case Colormap::Viridis: return lookup(kViridis, t);
    case Colormap::Jet: {
      const double u = std::clamp(t, 0.0, 1.0);
      return {piecewise(kJetR, u), piecewise(kJetG, u), piecewise(kJetB, u)};
    }
    case Colormap::Gray: return lookup(kGray, t);
  }
  return {0, 0, 0};
}

Map2D resize(const Map2D& m, int h, int w) {
  SV_CHECK(m.h > 0 && m.w > 0 && h > 0 && w > 0, ValueError, "resize: empty map");
  Map2D out;
  out.h = h;
  out.w = w;
  out.v.resize(static_cast<size_t>(h) * static_cast<size_t>(w));
  for (int y = 0; y < h; ++y) {
    int y0, y1;
    double v;
    bilinear_coord(y, h, m.h, y0, y1, v);
    for (int x = 0; x < w; ++x) {
      int x0, x1;
      double u;
      bilinear_coord(x, w, m.w, x0, x1, u);
      auto at = [&](int yy, int xx) { return static_cast<double>(m.v[static_cast<size_t>(yy * m.w + xx)]); };
      const double top = at(y0, x0) + u * (at(y0, x1) - at(y0, x0));
      const double bot = at(y1, x0) + u * (at(y1, x1) - at(y1, x0));
      out.v[static_cast<size_t>(y * w + x)] = static_cast<float>(top + v * (bot - top));
    }
  }
  return out;
}

Rgb resize(const Rgb& img, int h, int w) {
  Rgb out;
  out.h = h;
  out.w = w;
  out.px.resize(static_cast<size_t>(h) * static_cast<size_t>(w) * 3);
  for (int c = 0; c < 3; ++c) {
    Map2D ch;
    ch.h = img.h;
    ch.w = img.w;
    ch.v.resize(static_cast<size_t>(img.h) * static_cast<size_t>(img.w));
    for (size_t p = 0; p < ch.v.size(); ++p) ch.v[p] = img.px[p * 3 + static_cast<size_t>(c)];
    const Map2D r = resize(ch, h, w);
    for (size_t p = 0; p < r.v.size(); ++p) out.px[p * 3 + static_cast<size_t>(c)] = to_byte(r.v[p] / 255.0);
  }
  return out;
}

Rgb colorize(const Map2D& m, Colormap c, bool signed_map) {
  Rgb out;
  out.h = m.h;
  out.w = m.w;
  out.px.resize(m.v.size() * 3);
  for (size_t p = 0; p < m.v.size(); ++p) {
    const double t = signed_map ? 0.5 + 0.5 * m.v[p] : m.v[p];
    const auto rgb = colormap_rgb(c, t);
    for (int k = 0; k < 3; ++k) out.px[p * 3 + static_cast<size_t>(k)] = to_byte(rgb[static_cast<size_t>(k)]);
  }
  return out;
}

Rgb overlay(const Rgb& img, const Map2D& m, Colormap c, bool signed_map, double max_alpha) {
  SV_CHECK(img.h == m.h && img.w == m.w, ShapeError, "overlay: the picture and the map differ in size");
  const Rgb heat = colorize(m, c, signed_map);
  Rgb out = img;
  for (size_t p = 0; p < m.v.size(); ++p) {
    const double a = max_alpha * std::min(1.0, static_cast<double>(std::abs(m.v[p])));
    for (size_t k = 0; k < 3; ++k) {
      const double v = (1 - a) * img.px[p * 3 + k] + a * heat.px[p * 3 + k];
      out.px[p * 3 + k] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
    }
  }
  return out;
}

double smooth_sigma_px(const HeatmapOptions& opt, int width) {
  SV_CHECK(opt.smooth >= 0, ValueError, "--smooth must be >= 0 (a fraction of the image width)");
  SV_CHECK(std::isfinite(opt.smooth_min_px) && opt.smooth_min_px >= 0, ValueError,
           "--smooth-min-px must be a finite number >= 0");
  return opt.smooth > 0 ? std::max(opt.smooth * width, opt.smooth_min_px) : 0.0;
}

Map2D heatmap(const Tensor& s, const HeatmapOptions& opt) {
  Map2D m = reduce_channels(s, opt.reduce);
  gaussian_smooth(m, smooth_sigma_px(opt, m.w));
  return m;
}

double pair_heatmaps(const Tensor& s_a, const Tensor& s_b, const HeatmapOptions& opt, Map2D& a, Map2D& b) {
  SV_CHECK(opt.clip_percentile > 0 && opt.clip_percentile <= 100, ValueError, "--clip-percentile must be in (0, 100]");
  a = heatmap(s_a, opt);
  b = heatmap(s_b, opt);
  return normalize_common({&a, &b}, opt.clip_percentile, reduce_signed(opt.reduce));
}

Rgb side_by_side(const std::vector<Rgb>& parts, int gap) {
  Rgb out;
  if (parts.empty()) return out;
  out.h = parts[0].h;
  for (const Rgb& p : parts) {
    SV_CHECK(p.h == out.h, ShapeError, "side_by_side: pictures differ in height");
    out.w += p.w;
  }
  out.w += gap * static_cast<int>(parts.size() - 1);
  out.px.assign(static_cast<size_t>(out.h) * static_cast<size_t>(out.w) * 3, 255);
  int x0 = 0;
  for (const Rgb& p : parts) {
    for (int y = 0; y < p.h; ++y)
      std::copy(p.px.begin() + static_cast<std::ptrdiff_t>(y) * p.w * 3,
                p.px.begin() + static_cast<std::ptrdiff_t>(y + 1) * p.w * 3,
                out.px.begin() + (static_cast<std::ptrdiff_t>(y) * out.w + x0) * 3);
    x0 += p.w + gap;
  }
  return out;
}

}  // namespace sv
