// The architectures: one factory per family, the registry that names them, and the
// top-level module they share.
//
// Every factory builds a Module tree with torchvision's module names, so a torchvision
// state dict maps one to one onto Module::state(), and every named module's output is
// addressable through Forward (layers/module.h).
//
// Adding an architecture: write weights/models/NAME.cpp defining a factory with the
// ArchFactory signature (declare it below), then add ONE row to the table in
// weights/models/registry.cpp. The library is static, so self-registering objects in a
// file nobody references would be dropped by the linker; the table avoids that.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace sv {

using ArchFactory = std::unique_ptr<Module> (*)(int num_classes, int in_channels);

struct ArchEntry {
  const char* name;        // "resnet50"
  ArchFactory build;
  const char* input_conv;  // the first layer's weight: in_channels = its dim 1 ("conv1.weight")
  const char* classifier;  // the last layer's weight: num_classes = its dim 0 ("fc.weight")
};

// Every registered architecture, in a fixed order; find_arch returns null for unknown names.
const std::vector<ArchEntry>& arch_registry();
const ArchEntry* find_arch(const std::string& name);

// ---- factories (weights/models/*.cpp)
std::unique_ptr<Module> alexnet(int num_classes, int in_channels);
// depth 11, 13, 16 or 19; batch_norm adds BatchNorm2d after every convolution. width: the
// first block's channels (torchvision: 64; every block scales with it), hidden: the
// classifier's hidden width (torchvision: 4096). Other widths are for small test models
// (tests/test_trained_accuracy.cpp); the registry builds torchvision's.
std::unique_ptr<Module> vgg(int depth, bool batch_norm, int num_classes, int in_channels, int width = 64,
                            int hidden = 4096);
// depth 18, 34 (BasicBlock), 50, 101, 152 (Bottleneck); width: conv1's and layer1's
// channels (torchvision: 64; layer i has width << (i-1)), as vgg's width.
std::unique_ptr<Module> resnet(int depth, int num_classes, int in_channels, int width = 64);
std::unique_ptr<Module> fmnist_cnn(int num_classes, int in_channels);  // weights/models/fmnist_cnn.cpp

// The top level of torchvision's classifiers: runs its children in order, and before the
// child named `head` it flattens (N, C, H, W) -> (N, C*H*W) as torchvision's forward does
// with torch.flatten(x, 1) (not a module, so not an addressable layer).
class ImageClassifier : public Module {
 public:
  explicit ImageClassifier(std::string head) : head_(std::move(head)) {}
  Var forward(const Var& x, Forward& fw) override;
  const char* kind() const override { return "ImageClassifier"; }

 private:
  std::string head_;
};

}  // namespace sv
