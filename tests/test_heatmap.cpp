// Heatmaps (docs/method.md §5): channel reductions, smoothing, percentile, the common scale of
// a pair, clipping, colormaps and overlays.
#include <gtest/gtest.h>

#include <cmath>

#include "apps/method/heatmap.h"

namespace sv::test {

namespace {
Map2D map_of(int h, int w, std::vector<float> v) { return Map2D{h, w, std::move(v)}; }
}  // namespace

TEST(Heatmap, ChannelReductions) {
  // (C=2, H=1, W=2): pixel 0 has (1, -3), pixel 1 has (-2, 2)
  const Tensor s = Tensor::from_vector(std::vector<float>{1, -2, -3, 2}, {2, 1, 2});
  EXPECT_EQ(reduce_channels(s, Reduce::AbsSum).v, (std::vector<float>{4, 4}));
  EXPECT_EQ(reduce_channels(s, Reduce::Sum).v, (std::vector<float>{-2, 0}));
  EXPECT_EQ(reduce_channels(s, Reduce::Pos).v, (std::vector<float>{0, 0}));
  const Map2D l2 = reduce_channels(s, Reduce::L2);
  EXPECT_NEAR(l2.v[0], std::sqrt(10.0f), 1e-6);
  EXPECT_NEAR(l2.v[1], std::sqrt(8.0f), 1e-6);
  EXPECT_EQ(l2.h, 1);
  EXPECT_EQ(l2.w, 2);
  EXPECT_THROW(parse_reduce("max"), ValueError);
}

TEST(Heatmap, PercentileLikeNumpy) {
  // numpy.percentile([1, 2, 3, 4], p): 50 -> 2.5, 99.5 -> 3.985, 0 -> 1, 100 -> 4
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 50), 2.5, 1e-12);
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 99.5), 3.985, 1e-6);
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 0), 1.0, 1e-12);
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 100), 4.0, 1e-12);
  EXPECT_EQ(percentile({}, 50), 0.0);
}

TEST(Heatmap, CommonScaleNormalizesBothMapsTogether) {
  // Map a is weak, map b strong: on a common scale a stays weak (not stretched to 1).
  std::vector<float> va(100), vb(100);
  for (int i = 0; i < 100; ++i) {
    va[i] = 0.01f * i;  // max 0.99
    vb[i] = 0.1f * i;   // max 9.9
  }
  Map2D a = map_of(10, 10, va), b = map_of(10, 10, vb);
  std::vector<float> all(va);
  all.insert(all.end(), vb.begin(), vb.end());
  const double expect = percentile(all, 99.5);
  const double scale = normalize_common({&a, &b}, 99.5, false);
  EXPECT_NEAR(scale, expect, 1e-6);
  EXPECT_NEAR(a.v[99], 0.99 / expect, 1e-6);  // a's maximum stays small
  EXPECT_LT(a.v[99], 0.2f);
  EXPECT_EQ(b.v[99], 1.0f);                    // clipped: above the percentile
  EXPECT_EQ(b.v[0], 0.0f);
  for (float x : b.v) EXPECT_LE(x, 1.0f);
  // Clipping percentile 50: half of the union's values become 1.
  Map2D c = map_of(1, 4, {1, 2, 3, 4}), d = map_of(1, 4, {5, 6, 7, 8});
  EXPECT_NEAR(normalize_common({&c, &d}, 50, false), 4.5, 1e-6);
  EXPECT_EQ(d.v, (std::vector<float>{1, 1, 1, 1}));
  EXPECT_NEAR(c.v[3], 4 / 4.5, 1e-6);
}

TEST(Heatmap, SignedMapsClipToMinusOneOne) {
  Map2D a = map_of(1, 3, {-4, 0, 2}), b = map_of(1, 3, {1, -1, 0});
  const double s = normalize_common({&a, &b}, 100, true);
  EXPECT_NEAR(s, 4.0, 1e-6);
  EXPECT_EQ(a.v, (std::vector<float>{-1, 0, 0.5}));
}

TEST(Heatmap, AllZeroMapsStayZero) {
  Map2D a = map_of(2, 2, {0, 0, 0, 0}), b = map_of(2, 2, {0, 0, 0, 0});
  EXPECT_EQ(normalize_common({&a, &b}, 99.5, false), 0.0);
  for (float x : a.v) EXPECT_EQ(x, 0.0f);
}

TEST(Heatmap, SparseMapsFallBackToTheMaximum) {
  std::vector<float> v(1000, 0.0f);
  v[3] = 2.0f;  // a single hot pixel: the 99.5th percentile is 0
  Map2D a = map_of(10, 100, v), b = map_of(10, 100, std::vector<float>(1000, 0.0f));
  EXPECT_NEAR(normalize_common({&a, &b}, 99.5, false), 2.0, 1e-6);
  EXPECT_EQ(a.v[3], 1.0f);
}

TEST(Heatmap, GaussianSmoothingKeepsMassAndSpreads) {
  std::vector<float> v(21 * 21, 0.0f);
  v[10 * 21 + 10] = 1.0f;
  Map2D m = map_of(21, 21, v);
  gaussian_smooth(m, 1.5);
  double sum = 0;
  for (float x : m.v) sum += x;
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_LT(m.v[10 * 21 + 10], 0.2f);
  EXPECT_NEAR(m.v[10 * 21 + 11], m.v[10 * 21 + 9], 1e-7);  // symmetric
  EXPECT_NEAR(m.v[10 * 21 + 11] / m.v[10 * 21 + 10], std::exp(-0.5 / (1.5 * 1.5)), 1e-4);
  Map2D same = map_of(1, 3, {1, 2, 3});
  gaussian_smooth(same, 0);
  EXPECT_EQ(same.v, (std::vector<float>{1, 2, 3}));
}

TEST(Heatmap, PairHeatmapsShareOneScale) {
  // Image b's saliency is 3x image a's: after the common scale, a's map is 1/3 of b's
  // wherever b is below the clip.
  std::vector<float> sa(2 * 8 * 8), sb(2 * 8 * 8);
  for (size_t i = 0; i < sa.size(); ++i) {
    sa[i] = static_cast<float>((i * 7) % 11) * 0.1f;
    sb[i] = 3 * sa[i];
  }
  HeatmapOptions opt;
  opt.smooth = 0;
  opt.clip_percentile = 100;
  Map2D a, b;
  pair_heatmaps(Tensor::from_vector(sa, {2, 8, 8}), Tensor::from_vector(sb, {2, 8, 8}), opt, a, b);
  for (size_t i = 0; i < a.v.size(); ++i) EXPECT_NEAR(a.v[i] * 3, b.v[i], 1e-5);
  float mb = 0;
  for (float x : b.v) mb = std::max(mb, x);
  EXPECT_NEAR(mb, 1.0f, 1e-6);
}

TEST(Heatmap, SmoothingHasAFloorInInputPixels) {
  HeatmapOptions opt;  // 2% of the width, at least 1 input pixel
  EXPECT_DOUBLE_EQ(smooth_sigma_px(opt, 28), 1.0);      // 2% would be 0.56 px
  EXPECT_DOUBLE_EQ(smooth_sigma_px(opt, 224), 0.02 * 224);
  opt.smooth_min_px = 0;
  EXPECT_DOUBLE_EQ(smooth_sigma_px(opt, 28), 0.02 * 28);
  opt.smooth = 0;  // off is off, whatever the floor
  opt.smooth_min_px = 1;
  EXPECT_DOUBLE_EQ(smooth_sigma_px(opt, 28), 0.0);
  // heatmap() applies it: a single hot pixel of a 28-px map spreads over its neighbours.
  std::vector<float> v(28 * 28, 0.0f);
  v[14 * 28 + 14] = 1.0f;
  const Map2D m = heatmap(Tensor::from_vector(v, {1, 28, 28}), HeatmapOptions{});
  EXPECT_NEAR(m.v[14 * 28 + 15] / m.v[14 * 28 + 14], std::exp(-0.5), 1e-4);
}

TEST(Heatmap, CommonScaleSplitsIntoScaleAndApply) {
  Map2D a = map_of(1, 4, {1, 2, 3, 4}), b = map_of(1, 4, {5, 6, 7, 8});
  EXPECT_NEAR(common_scale({&a, &b}, 50), 4.5, 1e-6);
  apply_scale({&a, &b}, 2.0, false);  // a given scale: 2 -> 1, 4 -> clipped
  EXPECT_EQ(a.v, (std::vector<float>{0.5f, 1, 1, 1}));
}

TEST(Heatmap, ColormapsEndpoints) {
  auto close = [](std::array<float, 3> c, float r, float g, float b) {
    return std::abs(c[0] - r) < 1e-4 && std::abs(c[1] - g) < 1e-4 && std::abs(c[2] - b) < 1e-4;
  };
  EXPECT_TRUE(close(colormap_rgb(Colormap::Inferno, 0), 0.001462f, 0.000466f, 0.013866f));
  EXPECT_TRUE(close(colormap_rgb(Colormap::Inferno, 1), 0.988362f, 0.998364f, 0.644924f));
  EXPECT_TRUE(close(colormap_rgb(Colormap::Viridis, 0), 0.267004f, 0.004874f, 0.329415f));
  EXPECT_TRUE(close(colormap_rgb(Colormap::Viridis, 1), 0.993248f, 0.906157f, 0.143936f));
  EXPECT_TRUE(close(colormap_rgb(Colormap::Viridis, 128 / 255.0), 0.127568f, 0.566949f, 0.550556f));
  EXPECT_TRUE(close(colormap_rgb(Colormap::Jet, 0), 0, 0, 0.5f));
  EXPECT_TRUE(close(colormap_rgb(Colormap::Jet, 0.5), 0.4838709f, 1.0f, 0.4838709f));
  EXPECT_TRUE(close(colormap_rgb(Colormap::Gray, 0.25), 0.25f, 0.25f, 0.25f));
  EXPECT_TRUE(close(colormap_rgb(Colormap::Gray, 7), 1, 1, 1));  // clamped
  // inferno grows brighter monotonically (a perceptual map).
  float prev = -1;
  for (int i = 0; i <= 20; ++i) {
    const auto c = colormap_rgb(Colormap::Inferno, i / 20.0);
    const float lum = 0.2126f * c[0] + 0.7152f * c[1] + 0.0722f * c[2];
    EXPECT_GT(lum, prev);
    prev = lum;
  }
  EXPECT_THROW(parse_colormap("rainbow"), ValueError);
}

TEST(Heatmap, OverlayBlendsByMapValue) {
  Rgb img{1, 2, {100, 100, 100, 100, 100, 100}};
  const Map2D m = map_of(1, 2, {0, 1});
  const Rgb o = overlay(img, m, Colormap::Gray, false, 0.5);
  EXPECT_EQ(o.px[0], 100);  // map 0: the picture unchanged
  EXPECT_EQ(o.px[3], 178);  // map 1: half the picture, half white: 50 + 127.5
  const Rgb both = side_by_side({img, img}, 3);
  EXPECT_EQ(both.w, 7);
  EXPECT_EQ(both.px[1 * 3], 100);
  EXPECT_EQ(both.px[2 * 3], 255);  // the gap is white
  EXPECT_EQ(both.px[5 * 3], 100);
}

TEST(Heatmap, BilinearResize) {
  const Map2D m = map_of(1, 2, {0, 1});
  const Map2D r = resize(m, 1, 4);
  // torch align_corners=False: x = (i + 0.5) / 2 - 0.5 -> -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1)
  EXPECT_NEAR(r.v[0], 0, 1e-6);
  EXPECT_NEAR(r.v[1], 0.25, 1e-6);
  EXPECT_NEAR(r.v[2], 0.75, 1e-6);
  EXPECT_NEAR(r.v[3], 1, 1e-6);
}

}  // namespace sv::test
