// Shared-dimension weights α for a pair (docs/method.md §3): how much each latent dimension
// drives BOTH the ooc image and its reference, normalized to Σ_i |α_i| = 1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/enum_names.h"

namespace sv {

enum class SharedRule { ReluProduct, SignedProduct, Min, Geomean };
inline constexpr std::array<EnumName<SharedRule>, 4> kSharedRuleNames{{{"relu-product", SharedRule::ReluProduct}, {"signed-product", SharedRule::SignedProduct}, {"min", SharedRule::Min}, {"geomean", SharedRule::Geomean}}};
inline SharedRule parse_shared_rule(const std::string& s) { return parse_enum(kSharedRuleNames, s, "--shared rule"); }
inline const char* shared_rule_name(SharedRule v) { return enum_name(kSharedRuleNames, v); }

// α_i from the contributions of the ooc image c_o and of the reference c_r:
//   relu-product   relu(c_o) · relu(c_r)       signed-product   c_o · c_r
//   min            min(relu(c_o), relu(c_r))    geomean          sqrt(relu(c_o) · relu(c_r))
// normalized so that Σ|α| = 1. When nothing is shared (all α 0) it stays all zero and
// *l1 (if given) reports 0.
std::vector<double> shared_weights(SharedRule rule, const std::vector<double>& c_o, const std::vector<double>& c_r,
                                   double* l1 = nullptr);

struct TopDim {
  int64_t dim = -1;
  double alpha = 0;  // normalized α (its share of Σ|α|, signed)
};

// The m dimensions with the largest positive α, largest first (ties: lower dim first).
std::vector<TopDim> top_dims(const std::vector<double>& alpha, int m);

}  // namespace sv
