// What each r of a fitted readout is, and whether the readout can be trusted
// (docs/method.md §1).
//
// Three kinds of Pearson r between predicted and recorded responses; the report names each:
//   cv fold mean    the mean over the k folds of each fold's out-of-fold r, at the chosen λ,
//                   over the fit images: the criterion that chose λ (fit.cv_score).
//   pooled out-of-fold  one r over the out-of-fold predictions of many fit images pooled
//                   (each image predicted by the readout of the folds that left it out).
//   held-out        r of the final readout on images it was not fitted on.
// r_within is the pooled out-of-fold r on the preferred images (always in the fit set).
// r_ooc is held-out: only the ooc images outside the fit set count; with --fit-on all there
// are none, and r_ooc is not given. The pooled out-of-fold r on ooc images that were fitted
// on is kept apart (r_ooc_oof), never reported as r_ooc.
//
// A readout is flagged when its λ lies on the edge of the searched grid (the CV curve was
// still rising there, or the most regularised model on the grid was best: no signal
// found), or when its predictions are near-constant — sd(predictions) < 1% of
// sd(responses) over the fit images, for the final model or the out-of-fold predictions.
// A flagged readout's gradient is not evidence of anything; each flag says why and what to do.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/method/readout.h"

namespace sv {

struct ReadoutScores {
  double cv_fold_mean = 0;   // fit.cv_score (NaN: no CV)
  double within_oof = 0;     // pooled out-of-fold r, preferred images
  double ooc_held_out = 0;   // final readout on the ooc images outside the fit set (NaN: none)
  double ooc_oof = 0;        // pooled out-of-fold r on the ooc images inside the fit set (NaN: none)
  int64_t n_within = 0, n_ooc_held_out = 0, n_ooc_oof = 0;
  // (N) per analysed image, the prediction the scores use: out-of-fold for the fit images,
  // the final readout elsewhere (the Fig. 3a scatter).
  std::vector<double> prediction;
  std::vector<bool> fitted;  // (N) in the fit set
};

// fit: the readout fitted on the rows `fit_rows` (fit.oof in that order); y (N) the
// recorded responses; final_pred (N) the final readout's predictions of every image.
ReadoutScores score_readout(const RidgeFit& fit, const std::vector<double>& y, const std::vector<double>& final_pred,
                            const std::vector<int64_t>& fit_rows, const std::vector<int64_t>& pref,
                            const std::vector<int64_t>& ooc);

// Below this ratio sd(predictions) / sd(responses) the readout counts as constant.
inline constexpr double kNearConstantRatio = 1e-2;

struct ReadoutFlag {
  std::string code;    // lambda_at_upper_edge | lambda_at_lower_edge | near_constant_predictions
  std::string reason;  // what was found, with the numbers
  std::string remedy;  // what to change
};

struct ReadoutCheck {
  double prediction_sd_ratio = 0;  // final readout over the fit images (NaN: constant responses)
  double oof_sd_ratio = 0;         // out-of-fold predictions over the fit images (NaN: no CV)
  bool lambda_searched = false;    // more than one λ on the grid
  std::vector<ReadoutFlag> flags;  // empty: nothing found
  bool ok() const { return flags.empty(); }
};

// grid: the λ values searched (one value: λ was fixed, no edge to be on); one_se: the
// 1se rule chose λ (named in the remedy).
ReadoutCheck check_readout(const RidgeFit& fit, const std::vector<double>& grid, bool one_se,
                           const std::vector<double>& y_fit, const std::vector<double>& final_pred_fit);

}  // namespace sv
