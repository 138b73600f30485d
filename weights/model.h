// A model: an architecture (a Module tree with torchvision's names) plus the metadata of
// its model file. Model files are safetensors with a __metadata__ map:
//   arch (required), input_size, resize_size, mean, std (comma-separated floats),
//   in_channels, num_classes (inferred from the classifier's shape when absent).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace sv {

struct ModelInfo {
  std::string arch;
  int in_channels = 3;
  int num_classes = 1000;
  int input_size = 224;   // center-crop size
  int resize_size = 256;  // shorter side before the crop
  std::vector<float> mean{0.485f, 0.456f, 0.406f};
  std::vector<float> std{0.229f, 0.224f, 0.225f};
  std::map<std::string, std::string> metadata;  // everything in __metadata__
};

struct Model {
  ModelInfo info;
  std::unique_ptr<Module> net;
  // Every addressable layer name, in forward order; throws ValueError listing them if `layer` is unknown.
  void check_layer(const std::string& layer) const;
};

// Architectures by torchvision name ("resnet50", "vgg16_bn", "alexnet", ...) and ours
// ("fmnist_cnn"). Throws ValueError listing the known names for an unknown one.
std::unique_ptr<Module> build_arch(const std::string& arch, int num_classes, int in_channels);
std::vector<std::string> known_archs();

// Loads a model file; every problem (missing file, corrupt header, missing/unexpected/
// mis-shaped tensor) is an IoError naming the file and the tensor.
Model load_model(const std::string& path);
// Writes a model file atomically (temporary name, then rename), float32 tensors.
void save_model(const Model& m, const std::string& path);

}  // namespace sv
