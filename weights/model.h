// A model: an architecture (a Module tree with torchvision's names) plus the metadata of
// its model file. Model files are safetensors with a __metadata__ map:
//   arch (required), input_size, resize_size, mean, std (comma-separated floats),
//   in_channels, num_classes (inferred from the classifier's shape when absent).
// The file format is described in weights/README.md.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace sv {

// The largest input_size / resize_size a model file may declare (an image's eval transform
// costs O(resize_size^2) memory).
inline constexpr int kMaxImageSide = 4096;

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
  // Every addressable layer name (module paths, registration order: "features", "features.0", ...).
  std::vector<std::string> layers() const;
  // Throws ValueError listing the valid names if `layer` is not one of layers().
  void check_layer(const std::string& layer) const;
};

// Architectures by torchvision name ("resnet50", "vgg16_bn", "alexnet", ...) and ours
// ("fmnist_cnn"). Throws ValueError listing the known names for an unknown one.
std::unique_ptr<Module> build_arch(const std::string& arch, int num_classes, int in_channels);
std::vector<std::string> known_archs();

// A model with the architecture's initial (zero) weights: info.arch, num_classes and in_channels
// select the architecture (ValueError for an unknown one); the rest of info is kept.
Model make_model(ModelInfo info);

// Fills every tensor of net with "portable" pseudo-random values: a pure function of
// (seed, tensor name, element index) that weights/convert.py --random reproduces bit for
// bit without torch's generator (the algorithm is in weights/README.md). Conv/linear
// weights are Kaiming-uniform; batchnorm gamma, beta and running statistics are random
// too, so batchnorm matters. Host tensors only.
void init_portable(Module& net, uint64_t seed);

// Loads a model file; every problem (missing file, corrupt header, missing/unexpected/
// mis-shaped tensor) is an IoError naming the file and the tensor.
Model load_model(const std::string& path);
// Writes a model file atomically (temporary name, then rename), float32 tensors.
void save_model(const Model& m, const std::string& path);

}  // namespace sv
