// Summaries of the faithfulness curves and the randomisation check over a set of neurons
// (one neuron, or all of a run), for results.json and the gallery. Every pair contributes
// two images (its ooc image and its reference); each image has one curve pair per map.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/report/run_result.h"

namespace sv {

struct FaithSummary {
  std::string method;          // shared | gradient | ig | random
  int64_t images = 0;          // images with finite AUCs (an image whose baseline gives r_full is left out)
  double deletion_auc = kNoValue, insertion_auc = kNoValue;  // means over those images
  // The share of those images where this map does better than the random ranking on the
  // same image: a lower deletion AUC, a higher insertion AUC (NaN for the random map itself).
  double deletion_beats_random = kNoValue, insertion_beats_random = kNoValue;
  // The mean normalised curves ŷ_k (k = 0 .. steps) over the same images.
  std::vector<double> deletion_curve, insertion_curve;
};

// One row per method, in the order the images list them.
std::vector<FaithSummary> faith_summary(const std::vector<const NeuronResult*>& neurons);

struct RandomisationSummary {
  std::string stage;
  int64_t images = 0;                              // images with a finite value
  double spearman = kNoValue, ssim = kNoValue;     // means over the images
};

// One row per stage, top first.
std::vector<RandomisationSummary> randomisation_summary(const std::vector<const NeuronResult*>& neurons);

// The neurons of a run that were not skipped.
std::vector<const NeuronResult*> fitted_neurons(const RunResult& r);

}  // namespace sv
