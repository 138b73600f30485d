// The inputs of `sharedvis explain`: the model, the analysed images and the neurons with
// their (recorded or synthetic) responses, from any of the three input kinds.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/explain.h"
#include "apps/method/matrix.h"
#include "apps/report/run_result.h"
#include "weights/bundled_model.h"
#include "weights/model.h"

namespace sv {

// The model's default readout layer: metadata "readout_layer", else "features" for
// fmnist_cnn; "" when there is none (then --layer is required).
std::string default_layer(const Model& m);

struct NeuronInput {
  std::string name, preferred;
  Mat repeats;  // (analysed images, R); the response is the mean of the repeats
};

struct ExplainInputs {
  std::string kind;                 // responses | images | dataset
  Tensor x;                         // (N, C, H, W) the analysed images, model input
  std::vector<ImageInfo> images;    // (N)
  std::vector<NeuronInput> neurons;
  nlohmann::json description;       // files, counts, categories, synthetic source
};

// Loads images and neurons for opt's input kind. Synthetic neurons run the model (and,
// for the fitted source, a ridge fit) on be.
ExplainInputs load_inputs(const ExplainOptions& opt, Model& m, Backend& be, const std::string& layer);

}  // namespace sv
