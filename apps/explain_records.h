// The stages' outputs as JSON records, exact: every double is written in the shortest form
// that reads back to the same bits (nlohmann-json's), NaN as null and ±∞ as "inf"/"-inf",
// so that a staged run over a work folder (apps/explain_work.h) merges into the same
// numbers as one process.
#pragma once
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/explain_stages.h"

namespace sv {

nlohmann::json exact(double v);
double exact_double(const nlohmann::json& j);
nlohmann::json exact(const std::vector<double>& v);
std::vector<double> exact_doubles(const nlohmann::json& j);

// The readouts of neurons [first, last) (indices into r.neurons): each neuron's statistics,
// the fits of those not skipped (w, b, λ, CV curve; not the out-of-fold predictions, which
// only the statistics use) and the standardizers of their fit sets.
nlohmann::json readouts_json(const Readouts& r, size_t first, size_t last);

// Adds a readouts_json record to r (r.neurons sized to all neurons beforehand); fitted
// neurons are appended, so records must be added in neuron order. Their images (pref, ooc,
// fit, y) come from data; the designs are recomputed from data.phi.
void add_readouts(const nlohmann::json& j, const ExplainConfig& c, const Analysed& data, Readouts& r);

// The evidence of a pairs shard: per plan its curves and points, per fitted readout of the
// shard its min_drop, and the settings.
nlohmann::json evidence_json(const Pairs& pairs, const Evidence& ev, const std::vector<size_t>& fitted);
// Puts a shard's evidence (its plans are global plans first_plan, first_plan + 1, ...) into ev.
void add_evidence(const nlohmann::json& j, size_t first_plan, Evidence& ev);

}  // namespace sv
