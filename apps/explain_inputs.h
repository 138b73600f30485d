// The inputs of `sharedvis explain`, in two stages around the features:
//   load_image_set   the images (a folder, a dataset, or a responses CSV's images and its
//                    recorded neurons), through the model's eval transform; no forward pass;
//   source_plan      for synthetic neurons, which model output their responses come from
//                    (the logit units, or the last feature layer for the fitted source), so
//                    that the features stage computes it in the same forward pass as φ;
//   make_neurons     the analysed images and the neurons' responses from that output.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/explain_config.h"
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

// Decodes the images `rows` (indices into a list of images) through the model's transform
// into (rows.size(), C, H, W), bitwise what decoding every image gives those rows. A task
// that needs a few images' pixels decodes those only; an undecodable file is an IoError
// naming it.
using PixelRows = std::function<Tensor(const std::vector<int64_t>& rows)>;

// Every loaded image, before the neurons are attached.
struct ImageSet {
  InputKind kind = InputKind::Dataset;
  Tensor x;                          // (rows, C, H, W) model input of images [x_first, x_first + rows): all N by
                                     // default; undefined when no row was asked for
  int64_t x_first = 0;
  PixelRows pixels;                  // any of the N images, decoded when called (holds paths, not pixels)
  std::vector<ImageInfo> images;     // (N)
  std::vector<int> labels;           // (N) index into classes (synthetic kinds)
  std::vector<std::string> classes;  // category names (synthetic kinds)
  std::vector<NeuronInput> recorded; // kind Responses: the recorded neurons
  nlohmann::json description;        // files, counts, categories
};

// Which of the N listed images to decode now: [first, last) = rows(N), possibly empty. A
// features task decodes only its slice, the later stages none (a 50,000-image run must not
// decode every image in every task); set.pixels decodes any image later.
using ImageRows = std::function<std::pair<int64_t, int64_t>(int64_t n)>;
ImageSet load_image_set(const InputConfig& in, const Model& m, const ImageRows& rows = nullptr);

// Where synthetic responses come from; none for recorded neurons.
struct SourcePlan {
  bool needed = false;
  SyntheticSource source = SyntheticSource::Logit;  // Logit or Fitted (Auto resolved)
  FeatureLayer layer;                               // the output that gives the responses
  std::vector<int64_t> units;                       // Logit: the output unit per neuron
  std::vector<int> targets;                         // Fitted: the category per neuron
};

// Checks the synthetic categories against the images and the model (layer must come
// before the source).
SourcePlan source_plan(const InputConfig& in, const Model& m, const std::string& layer, const ImageSet& set);

// The analysed images and their neurons. phi (N, D) and source (N, S) are the features
// stage's outputs for every image of the set, in the model's dtype. With every image of the
// set decoded, x holds the analysed images' pixels; with none (the staged run's fit, pairs
// and report tasks), x is undefined and pixels decodes the rows asked for.
struct Analysed {
  std::vector<int64_t> rows;         // analysed image -> image of the set
  Tensor x;                          // (n, C, H, W), or undefined: decoded on demand
  PixelRows pixels;                  // analysed images -> (rows, C, H, W), from x or decoded
  std::vector<ImageInfo> images;     // (n)
  Mat phi;                           // (n, D) features at the readout layer
  std::vector<NeuronInput> neurons;
  nlohmann::json description;        // the set's, with the synthetic source's settings
};

Analysed make_neurons(const ExplainConfig& c, ImageSet set, const Tensor& phi, const Tensor& source,
                      const SourcePlan& plan);

}  // namespace sv
