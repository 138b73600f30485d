// How much a neuron's ooc responses reach into its preferred category's range
// (docs/method.md §1, the paper's Fig. 3b) — with measures that do not depend on where
// zero is.
//
// The paper's "mean ooc response / mean response" means something only for non-negative
// responses (firing rates): for signed responses (synthetic logits, z-scored recordings)
// the overall mean can be near zero or negative, and the ratio then reads as large (or
// negative) for no reason. The measures here are unchanged when a constant is added to
// every response or when they are scaled by a positive factor:
//
//   top_ooc_share       Let K be the number of preferred-category images. Among the K
//                       highest responses over all analysed images, the fraction that are
//                       ooc. 0: the neuron's K strongest responses are all to its category;
//                       chance_share = n_ooc / N: the response ignores the category.
//                       Ties at the K-th value share the remaining places in proportion.
//   ooc_percentiles     For each of the neuron's top-N ooc images (by response, N =
//                       --top-ooc, the images that are explained), its percentile rank
//                       among the preferred-category responses: 100 · (#{pref < v} +
//                       ½ #{pref = v}) / n_pref. 50: as strong as the median preferred
//                       image; 100: stronger than every preferred image.
//   top_ooc_percentile  The mean of ooc_percentiles.
//   mean_ratio          The paper's ratio mean(ooc) / mean(all), only when every response
//                       is >= 0 and the mean is > 0 (else NaN).
#pragma once
#include <cstdint>
#include <vector>

namespace sv {

struct Selectivity {
  int64_t top_k = 0;                    // K = the number of preferred images
  double top_ooc_share = 0;             // NaN when there are no images
  double chance_share = 0;              // n_ooc / N
  std::vector<int64_t> top_ooc;         // the top-N ooc images, best first
  std::vector<double> ooc_percentiles;  // (top_ooc) percentile ranks in the preferred responses
  double top_ooc_percentile = 0;        // mean of ooc_percentiles (NaN: no ooc image)
  double mean_ratio = 0;                // NaN unless the responses are non-negative
};

// Percentile rank of v among values: 100 · (#{< v} + ½ #{= v}) / n. NaN when values is empty.
double percentile_rank(const std::vector<double>& values, double v);

// y: the response of every analysed image; pref / ooc: the images of the neuron's
// preferred category and the others; top_n: how many ooc images get a percentile.
Selectivity selectivity(const std::vector<double>& y, const std::vector<int64_t>& pref,
                        const std::vector<int64_t>& ooc, int top_n);

}  // namespace sv
