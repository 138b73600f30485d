// readout.safetensors: the fitted readouts, reusable and checkable on their own.
//   w (neurons, D), b (neurons), mu and sigma (D) — or (neurons, D) when the neurons were
//   fitted on different image sets (each neuron's own preferred category) —, float64.
// Metadata: layer, pool, model, arch, neurons (a JSON array of names), preferred (JSON
// array), lambda (JSON array), mu_sigma ("shared" | "per-neuron"), format.
#pragma once
#include <string>
#include <vector>

#include "apps/method/matrix.h"

namespace sv {

struct ReadoutFile {
  std::string model, arch, layer, pool;
  std::vector<std::string> neurons, preferred;
  std::vector<double> lambda;
  Mat w;             // (neurons, D)
  std::vector<double> b;  // (neurons)
  Mat mu, sigma;     // (1, D) shared, or (neurons, D)
};

// Written with weights/safetensors.h's atomic writer.
void write_readout_file(const std::string& path, const ReadoutFile& r);

}  // namespace sv
