// The model-randomisation sanity check (Adebayo et al., 2018; docs/method.md §8): the
// network's weights are re-drawn stage by stage from the top down ("cascading": stage s
// keeps the stages above it random too), the maps recomputed with everything else kept
// (the readout, μ, σ, α and the cotangents), and compared with the original maps. A map
// that stays alike when the weights it is supposed to explain are random says little
// about the model.
//
// A stage is one weight layer that the readout layer depends on: a module whose "weight"
// has two or more dimensions (a convolution or a linear layer), together with the tensors
// of the modules after it up to the next such layer (its batchnorm). Tensors before the
// first weight layer join the first stage. The new values are those of init_portable
// (Kaiming-uniform weights, random batchnorm statistics; weights/portable_init.cpp) with
// the given seed: the same numbers on every platform.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/primitives.h"

namespace sv {

struct RandomisationStage {
  std::string name;                  // the weight layer's module path ("features.8")
  std::vector<std::string> tensors;  // full tensor names ("features.8.weight", "features.9.running_mean", ...)
};

// The stages φ at `layer` depends on, TOP FIRST (the order in which they are randomised).
// Modules are taken in registration order, which is the forward order of every
// architecture here (weights/models/); those after `layer` (and not inside it) are left out.
std::vector<RandomisationStage> randomisation_stages(const Model& m, const std::string& layer);

// Replaces the stage's tensors of m by init_portable(seed) values of the same names and
// moves them to be (the other tensors are unchanged).
void randomise_stage(Model& m, const RandomisationStage& stage, uint64_t seed, Backend& be);

}  // namespace sv
