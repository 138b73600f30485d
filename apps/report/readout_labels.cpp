// The labels of a neuron's r values.
#include "apps/report/readout_labels.h"

#include <cmath>

namespace sv {

std::vector<LabelledR> readout_rs(const NeuronResult& n) {
  const std::string k = std::to_string(n.folds);
  std::vector<LabelledR> out;
  out.push_back({"cv_fold_mean", "per-fold mean", "r CV (per-fold mean)",
                 "mean over the " + k + " cross-validation folds of each fold's out-of-fold Pearson r at the chosen "
                 "λ, over the " + std::to_string(n.n_fit) + " fit images: the score that chose λ",
                 n.cv_score, n.n_fit, ""});
  out.push_back({"within", "pooled out-of-fold", "r within (pooled out-of-fold)",
                 "Pearson r over the " + std::to_string(n.n_preferred) + " preferred images between the recorded "
                 "responses and the out-of-fold predictions pooled across the " + k + " folds (each image predicted "
                 "by the readout fitted on the other folds)",
                 n.r_within, n.n_preferred, ""});
  LabelledR ooc{"ooc", "held-out", "r ooc (held-out)",
                "Pearson r over the " + std::to_string(n.n_ooc_held_out) + " ooc images outside the fit set between "
                "the recorded responses and the final readout's predictions (it never saw these images)",
                n.r_ooc, n.n_ooc_held_out, ""};
  if (n.n_ooc_held_out == 0)
    ooc.absent = "every ooc image is in the readout's fit set (--fit-on all), so no readout is held out from them";
  else if (!std::isfinite(n.r_ooc))
    ooc.absent = "undefined: the recorded or predicted responses are constant over the held-out ooc images";
  out.push_back(ooc);
  if (n.n_ooc_oof > 0)
    out.push_back({"ooc_out_of_fold", "pooled out-of-fold", "r ooc (pooled out-of-fold)",
                   "Pearson r over the " + std::to_string(n.n_ooc_oof) + " ooc images in the fit set between the "
                   "recorded responses and their out-of-fold predictions pooled across the " + k + " folds; λ was "
                   "chosen on these same folds, and the final readout (whose maps are drawn) was fitted on these "
                   "images",
                   n.r_ooc_oof, n.n_ooc_oof, ""});
  return out;
}

}  // namespace sv
