// From saliency to heatmaps (docs/method.md §5): one map per image by reducing channels,
// Gaussian smoothing, normalization of a pair's maps on ONE common scale, colormaps and
// alpha-blended overlays on the displayed image.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/enum_names.h"
#include "autodiff/tensor.h"

namespace sv {

// A single-channel map, row-major (h, w).
struct Map2D {
  int h = 0, w = 0;
  std::vector<float> v;
};

enum class Reduce { AbsSum, Sum, Pos, L2 };
inline constexpr std::array<EnumName<Reduce>, 4> kReduceNames{{{"abs-sum", Reduce::AbsSum}, {"sum", Reduce::Sum}, {"pos", Reduce::Pos}, {"l2", Reduce::L2}}};
inline Reduce parse_reduce(const std::string& s) { return parse_enum(kReduceNames, s, "--reduce"); }
inline const char* reduce_name(Reduce v) { return enum_name(kReduceNames, v); }
// True for the reduction that keeps a sign (sum): its maps are shown diverging around 0.
inline bool reduce_signed(Reduce r) { return r == Reduce::Sum; }

// s (C, H, W) (or (1, C, H, W)) -> (H, W): Σ_c |s|, Σ_c s, relu(Σ_c s), sqrt(Σ_c s²).
Map2D reduce_channels(const Tensor& s, Reduce r);

// Separable Gaussian blur with standard deviation sigma_px pixels (<= 0: unchanged),
// kernel radius ceil(3σ), borders replicated.
void gaussian_smooth(Map2D& m, double sigma_px);

// The p-th percentile (0..100) of values, linear interpolation between order statistics
// (NumPy's default). Empty input: 0.
double percentile(std::vector<float> values, double p);

// Puts the maps on one common scale: divides every map by the `pct` percentile of the
// union of their absolute values and clips to [0, 1] ([-1, 1] when signed). Returns the
// scale used (0 when every value is 0: the maps are left at 0).
double normalize_common(const std::vector<Map2D*>& maps, double pct, bool signed_maps);
// The scale normalize_common would use: the `pct` percentile of the union of the maps'
// absolute values, or their maximum where that percentile is 0.
double common_scale(const std::vector<const Map2D*>& maps, double pct);
// Divides by `scale` and clips to [0, 1] ([-1, 1] when signed); scale <= 0: all zero.
void apply_scale(const std::vector<Map2D*>& maps, double scale, bool signed_maps);

enum class Colormap { Inferno, Viridis, Jet, Gray };
inline constexpr std::array<EnumName<Colormap>, 4> kColormapNames{{{"inferno", Colormap::Inferno}, {"viridis", Colormap::Viridis}, {"jet", Colormap::Jet}, {"gray", Colormap::Gray}}};
inline Colormap parse_colormap(const std::string& s) { return parse_enum(kColormapNames, s, "--colormap"); }
inline const char* colormap_name(Colormap v) { return enum_name(kColormapNames, v); }
// RGB in [0, 1] of t in [0, 1] (clamped), linear between the table's entries.
std::array<float, 3> colormap_rgb(Colormap c, double t);

// 8-bit RGB pictures, row-major (h, w, 3).
struct Rgb {
  int h = 0, w = 0;
  std::vector<uint8_t> px;
};

// Bilinear resampling of a map or a picture to (h, w) (align-corners false, like torch).
Map2D resize(const Map2D& m, int h, int w);
Rgb resize(const Rgb& img, int h, int w);

// The map alone through the colormap. Signed maps in [-1, 1] are shown with 0 at the
// colormap's middle.
Rgb colorize(const Map2D& m, Colormap c, bool signed_map);

// Alpha blend of the colorized map over the picture (same size): the opacity at a pixel
// is max_alpha · |m| (so where the map is 0 the picture shows through unchanged).
Rgb overlay(const Rgb& img, const Map2D& m, Colormap c, bool signed_map, double max_alpha = 0.75);

// Smoothing. A raw input gradient varies from pixel to pixel; smoothing shows where it is
// large rather than its per-pixel noise. σ is a fraction of the image width
// (docs/method.md §5: 2%, about 4.5 px at 224 px) with a floor in input pixels: on
// Fashion-MNIST's 28 px, 2% is 0.56 px, whose kernel leaves half the weight on the centre
// pixel (hardly any smoothing: the maps were speckled). The floor, 1 input pixel by
// default (--smooth-min-px), smooths over about the model's first 3x3 receptive field (16%
// of the weight stays on the centre); at 224 px the fraction decides. The smoothed map is
// then upsampled bilinearly to the display size before the overlay (apps/report/figures.h).
struct HeatmapOptions {
  Reduce reduce = Reduce::AbsSum;
  double smooth = 0.02;            // Gaussian σ as a fraction of the image width (0: none)
  double smooth_min_px = 1.0;      // σ is at least this many input pixels (when smooth > 0)
  double clip_percentile = 99.5;   // the common scale of a pair
  Colormap colormap = Colormap::Inferno;
};

// σ in input pixels for an image `width` pixels wide: max(smooth · width, smooth_min_px),
// 0 when smooth is 0.
double smooth_sigma_px(const HeatmapOptions& opt, int width);

// One map from a saliency (C, H, W): channels reduced, then smoothed.
Map2D heatmap(const Tensor& s, const HeatmapOptions& opt);

// The two maps of a pair from their saliencies (C, H, W): reduced, smoothed, and put on
// one common scale (normalize_common). Returns the scale.
double pair_heatmaps(const Tensor& s_a, const Tensor& s_b, const HeatmapOptions& opt, Map2D& a, Map2D& b);

// Pictures next to each other with a gap of `gap` white pixels (all the same height).
Rgb side_by_side(const std::vector<Rgb>& parts, int gap = 4);

}  // namespace sv
