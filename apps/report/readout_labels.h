// What each reported r is, in one place for results.json and the gallery: its value, the
// kind (which predictions), and a sentence naming the predictions and the images.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/report/run_result.h"

namespace sv {

struct LabelledR {
  std::string key;     // results.json key under "r": cv_fold_mean | within | ooc | ooc_out_of_fold
  std::string kind;    // per-fold mean | pooled out-of-fold | held-out
  std::string header;  // short, for table headers and plot legends ("r within (pooled out-of-fold)")
  std::string label;   // the whole definition
  double value = kNoValue;
  int64_t n = 0;       // images it is computed over
  std::string absent;  // when value is not given: why ("" otherwise)
};

// cv_fold_mean, within, ooc, and ooc_out_of_fold (the last only when ooc images were fitted on).
std::vector<LabelledR> readout_rs(const NeuronResult& n);

}  // namespace sv
