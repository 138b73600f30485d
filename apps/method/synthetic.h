// Synthetic category-selective neurons (docs/method.md §6). A synthetic neuron for category c
// takes its "recorded" response from a stage deeper than the readout layer L, so that the
// readout fitted from L is a real model of it:
//   logit   the model's output unit for c (a classifier trained on these categories);
//   fitted  a ridge readout of the model's last feature layer fitted to 1[label = c] on
//           one half of the images (stratified by category); the other half is analysed.
// Optional recording noise (Gaussian, sd = noise · sd of the response) in R independent
// repeats, so that split-half reliability is defined. L must come before the source.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "apps/enum_names.h"
#include "apps/method/matrix.h"
#include "apps/method/readout.h"
#include "apps/primitives.h"

namespace sv {

enum class SyntheticSource { Auto, Logit, Fitted };
inline constexpr std::array<EnumName<SyntheticSource>, 3> kSyntheticSourceNames{{{"auto", SyntheticSource::Auto}, {"logit", SyntheticSource::Logit}, {"fitted", SyntheticSource::Fitted}}};
inline SyntheticSource parse_synthetic_source(const std::string& s) { return parse_enum(kSyntheticSourceNames, s, "--synthetic-source"); }
inline const char* synthetic_source_name(SyntheticSource v) { return enum_name(kSyntheticSourceNames, v); }

// Module paths of the leaf modules of net, in forward (registration) order.
std::vector<std::string> leaf_layers(const Module& net);
// The layer that produces the model's output: its last leaf.
std::string output_layer(const Module& net);
// The model's last feature layer: the last leaf before the output layer that is not a
// Dropout or Flatten (the penultimate representation of a classifier).
std::string last_feature_layer(const Module& net);
// Whether the output of `layer` is complete strictly before that of `source`: every leaf
// of `layer` runs before the last leaf of `source`. (A composite that contains the source,
// or the source itself, does not come before it.)
bool layer_precedes(const Module& net, const std::string& layer, const std::string& source);
// Throws ValueError saying so unless layer_precedes; `what` names the source.
void check_layer_precedes(const Module& net, const std::string& layer, const std::string& source,
                          const std::string& what);

// Splits the images into two halves, stratified by label (each category dealt alternately
// after a seeded shuffle): a is fitted on, b analysed. Both in increasing index order.
void split_halves(const std::vector<int>& labels, uint64_t seed, std::vector<int64_t>& a, std::vector<int64_t>& b);

// R noisy repeats of a clean response (n) -> (n, R): clean + N(0, (noise · sd(clean))²).
// noise = 0 gives R identical copies.
Mat noisy_repeats(const std::vector<double>& clean, double noise, int repeats, std::mt19937_64& rng);

// Row means of (n, R) repeats.
std::vector<double> repeat_mean(const Mat& rep);

// The logit source: the output units `units` of the model's output layer `out_layer`
// from its outputs logits (N, classes): (N, units). ValueError for a unit that does not exist.
// (The caller checks that the readout layer comes before the output layer.)
Mat logit_responses(const Mat& logits, const std::string& out_layer, const std::vector<int64_t>& units);

struct FittedSource {
  std::string layer;               // the model's last feature layer (spatially averaged)
  std::vector<int64_t> fit_half;   // images the indicator readouts are fitted on
  std::vector<int64_t> analysed;   // the other half
  Mat responses;                   // (analysed, targets)
  std::vector<double> lambda;      // (targets) the readouts' λ
};

// The fitted source: for each target category t, a ridge readout of phi (N, S), the
// model's last feature layer `source_layer` spatially averaged, fitted to 1[label = t] on
// one half of the images (stratified split, `seed`), predicting the other half.
FittedSource fitted_responses(const Mat& phi, const std::string& source_layer, const std::vector<int>& labels,
                              const std::vector<int>& targets, const RidgeOptions& ridge, uint64_t seed);

}  // namespace sv
