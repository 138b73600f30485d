// Deletion and insertion curves (Petsiuk et al., 2018; docs/method.md §8): does the map
// point at the pixels the neuron's model responds to?
//
// Pixels (spatial positions, all channels together) are ranked by a map, largest first.
// Deletion starts from the image and replaces the top-ranked pixels by a baseline image in
// `steps` equal steps until none of the image is left; insertion starts from the baseline
// and puts the image's pixels back in the same order. At step k (k = 0 .. steps) the
// first round(k·P / steps) pixels of the ranking are changed (P pixels in all), and the
// neuron's predicted response r_k is recorded. Both curves end at the same two responses:
// r_full (the image) and r_base (the baseline). Normalised,
//   ŷ_k = (r_k − r_base) / (r_full − r_base)        (1 at the image, 0 at the baseline)
// and the area under the curve is the trapezoid rule over the fractions k / steps:
//   AUC = Σ_k (ŷ_k + ŷ_{k+1}) / 2 · 1 / steps.
// A faithful map gives a LOW deletion AUC (the response falls as soon as its top pixels
// go) and a HIGH insertion AUC; a random ranking gives about 0.5 for both when the
// response is linear in the pixels. The normalisation needs a baseline that LOWERS the
// response: when r_full − r_base is below a task's min_drop (and always when it is below
// 1e-9 (1 + |r_full|), zero or negative) the ratio is meaningless (a blurred trouser can
// drive a trouser neuron more than the trouser), and both AUCs are NaN (null); the raw
// curves are kept.
//
// Every step image of every curve goes through the model in forward-only batches of at
// most `batch` images, so the cost is (2 · (steps + 1) · curves / batch) forward passes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "apps/method/heatmap.h"
#include "apps/primitives.h"

namespace sv {

// The faithfulness baseline: "blur" (Gaussian blur of the image, σ = 10% of its width;
// default), "zero" (the zero input tensor: the dataset's mean colour after normalization),
// "mean" (each channel's mean over the image). All from make_baseline (primitives.h).
std::string check_faith_baseline(const std::string& s);  // returns s; ValueError otherwise

// Pixel indices (y · w + x) by the map's value, largest first; equal values keep index order.
std::vector<int64_t> rank_pixels(const Map2D& m);

// A random ranking of n pixels: Fisher–Yates with std::mt19937_64(seed) (j = rng() mod (i+1)
// for i = n−1 .. 1), the same on every platform.
std::vector<int64_t> random_ranking(int64_t n, uint64_t seed);

// round(k · P / steps), halves up: the number of pixels changed at step k.
int64_t pixels_at_step(int64_t k, int64_t P, int steps);

// Step k of a curve for the image x and its baseline, both (C, HW) values, written into
// out (C·HW values): deletion: x with the first n ranked pixels taken from the baseline;
// insertion: the baseline with the first n ranked pixels taken from x.
void perturbed_image(const double* x, const double* baseline, int64_t C, int64_t HW,
                     const std::vector<int64_t>& ranking, int64_t n, bool deletion, double* out);
void perturbed_image(const float* x, const float* baseline, int64_t C, int64_t HW,
                     const std::vector<int64_t>& ranking, int64_t n, bool deletion, float* out);

// The normalised area (see above) of responses r_0 .. r_steps; NaN when r_full − r_base
// is below max(min_drop, 1e-9 (1 + |r_full|)).
double normalised_auc(const std::vector<double>& r, double r_full, double r_base, double min_drop = 0);

struct CurveTask {
  Tensor x, baseline;             // (C, H, W) host
  std::vector<int64_t> ranking;   // H·W pixel indices, most important first
  double min_drop = 0;            // the least r_full − r_base whose curves are normalised
};

struct Curves {
  std::vector<double> deletion, insertion;  // (steps + 1) predicted responses
  double r_full = 0, r_base = 0;            // the image's and the baseline's
  double deletion_auc = 0, insertion_auc = 0;
};

// Responses of images (n, C, H, W), row i belonging to task task_of[i].
using ResponseFn = std::function<std::vector<double>(const Tensor& x, const std::vector<size_t>& task_of)>;

// Both curves of every task; the step images of all tasks are packed into batches of at
// most `batch` images for `response`. progress counts images.
std::vector<Curves> deletion_insertion(const std::vector<CurveTask>& tasks, int steps, int64_t batch,
                                       const ResponseFn& response, const ProgressFn& progress = {});

}  // namespace sv
