// PNG figures of a pair: the images as the model sees them and their heatmap overlays,
// enlarged for display when the images are small (Fashion-MNIST's 28 px).
#pragma once
#include <string>

#include "apps/method/heatmap.h"
#include "weights/model.h"

namespace sv {

// Display size for an image of width w: w scaled by the smallest integer that makes it at
// least 160 px.
int display_size(int w);
// The model-input image x (C, H, W) as an RGB picture of display size.
Rgb display_image(const Tensor& x, const ModelInfo& info);
void write_rgb_png(const std::string& path, const Rgb& img);

struct PairOverlays {
  double scale = 0;      // the scale the maps are drawn on
  double own_scale = 0;  // the clip percentile of these two maps (= scale unless one was given)
  Rgb a, b, pair;        // overlays and the two side by side
};

// Heatmaps of the pair (pair_heatmaps) over their display images.
PairOverlays pair_overlays(const Tensor& s_a, const Tensor& s_b, const Rgb& img_a, const Rgb& img_b,
                           const HeatmapOptions& opt);
// The same on a given scale (e.g. a decomposition panel on its pair's scale): values
// above it are clipped, so maps on one scale compare by colour (scale <= 0: their own).
PairOverlays pair_overlays_at(const Tensor& s_a, const Tensor& s_b, const Rgb& img_a, const Rgb& img_b,
                              const HeatmapOptions& opt, double scale);

}  // namespace sv
