// Display images, overlays, PNG output.
#include "apps/report/figures.h"

#include <algorithm>

#include "apps/io/image.h"

namespace sv {

int display_size(int w) { return w >= 160 ? w : w * ((160 + w - 1) / w); }

Rgb display_image(const Tensor& x, const ModelInfo& info) {
  SV_CHECK(x.ndim() == 3, ShapeError, "display_image: expected (C, H, W), got " + shape_str(x.shape()));
  Rgb img;
  img.h = static_cast<int>(x.dim(1));
  img.w = static_cast<int>(x.dim(2));
  img.px = to_display_rgb(x.to(DType::F32), info);
  const int s = display_size(img.w);
  return s == img.w ? img : resize(img, img.h * s / img.w, s);
}

void write_rgb_png(const std::string& path, const Rgb& img) { write_png(path, img.px, img.w, img.h); }

namespace {

PairOverlays overlays(Map2D a, Map2D b, const Rgb& img_a, const Rgb& img_b, const HeatmapOptions& opt,
                      double scale) {
  PairOverlays out;
  out.own_scale = common_scale({&a, &b}, opt.clip_percentile);
  out.scale = scale > 0 ? scale : out.own_scale;
  const bool sgn = reduce_signed(opt.reduce);
  apply_scale({&a, &b}, out.scale, sgn);
  out.a = overlay(img_a, resize(a, img_a.h, img_a.w), opt.colormap, sgn);
  out.b = overlay(img_b, resize(b, img_b.h, img_b.w), opt.colormap, sgn);
  if (out.a.h == out.b.h) {
    out.pair = side_by_side({out.a, out.b});
  } else {
    out.pair = side_by_side({out.a, resize(out.b, out.a.h, out.b.w * out.a.h / out.b.h)});
  }
  return out;
}

}  // namespace

PairOverlays pair_overlays(const Tensor& s_a, const Tensor& s_b, const Rgb& img_a, const Rgb& img_b,
                           const HeatmapOptions& opt) {
  return overlays(heatmap(s_a, opt), heatmap(s_b, opt), img_a, img_b, opt, 0);
}

PairOverlays pair_overlays_at(const Tensor& s_a, const Tensor& s_b, const Rgb& img_a, const Rgb& img_b,
                              const HeatmapOptions& opt, double scale) {
  return overlays(heatmap(s_a, opt), heatmap(s_b, opt), img_a, img_b, opt, scale);
}

}  // namespace sv
