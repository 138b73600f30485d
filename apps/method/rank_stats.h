// Similarity of two maps for the model-randomisation check (docs/method.md §8, Adebayo et
// al. 2018): Spearman's rank correlation and the structural similarity index (SSIM),
// written out plainly so that a test can check them against numbers worked by hand.
#pragma once
#include <vector>

#include "apps/method/heatmap.h"

namespace sv {

// Ranks 1..n of the values, ties sharing the mean of the ranks they span (the
// "average" or fractional ranking that Spearman's ρ with ties uses).
std::vector<double> fractional_ranks(const std::vector<double>& v);

// Spearman's ρ: Pearson's r of the fractional ranks. NaN when either side is constant,
// the sizes differ, or there are fewer than 2 values.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

// Mean SSIM (Wang et al., 2004) of two maps of the same size over every `win` × `win`
// window that lies inside the maps (no padding), each window's statistics unweighted
// (uniform window) and population (divided by win²):
//   SSIM = (2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2)),
//   C1 = (0.01 L)², C2 = (0.03 L)², L = data_range.
// Maps smaller than the window use one window of the whole map. ShapeError when the sizes
// differ or a map is empty.
double ssim(const Map2D& a, const Map2D& b, double data_range, int win = 7);

// The map divided by its largest |value| (a map of zeros stays zeros), so that two maps of
// different magnitude compare by shape: values in [0, 1] (or [-1, 1] for a signed map).
Map2D unit_max(const Map2D& m);

}  // namespace sv
