// index.html: a self-contained gallery of a run (inline CSS and SVG, relative links only).
// Summary first — the Fig. 3a-style scatter of predicted vs recorded responses (within
// the preferred category: out-of-fold predictions; ooc: the final model on held-out
// images), r_within vs r_ooc across neurons, and how far the ooc responses reach into the
// preferred range (the ooc share of the top responses, the percentile of the top ooc
// responses among the preferred ones) — with every r and measure named and defined; then
// one section per neuron with its readout's flags, its pairs (ooc | reference, each as the
// model sees it and with its heatmap), labelled with the responses and the similarity, and
// the per-dimension decomposition panels. A flagged readout's maps are folded away and
// marked as not evidence.
#pragma once
#include <string>
#include <vector>

#include "apps/report/run_result.h"

namespace sv {

struct GalleryStyle {
  std::string colormap;                 // name, for the legend
  std::vector<std::string> colormap_stops;  // CSS colours from 0 to 1
  bool signed_maps = false;             // --reduce sum: the legend reads −1 .. 1
  std::string decomposition_scale = "pair";  // pair | panel
  double smooth_sigma_px = 0;           // the heatmaps' Gaussian σ in input pixels
};

std::string gallery_html(const RunResult& r, const GalleryStyle& style);
void write_gallery(const std::string& path, const RunResult& r, const GalleryStyle& style);

}  // namespace sv
