// VGG 11/13/16/19, with or without batch norm, as in torchvision (models/vgg.py):
//   features   (N,3,224,224) -> (N,512,7,7)  per config entry: Conv 3x3 pad 1 (with bias),
//              [BatchNorm2d], ReLU; 'M' is MaxPool 2/2. Indices count every module.
//   avgpool    AdaptiveAvgPool2d(7, 7)        (N,512,7,7)
//   (flatten)                                 (N,25088)
//   classifier Linear 25088->4096, ReLU, Dropout, Linear 4096->4096, ReLU, Dropout, Linear -> classes
#include "weights/models/archs.h"

namespace sv {

namespace {
constexpr int M = 0;  // max pool in a config

std::vector<int> config(int depth) {
  switch (depth) {
    case 11: return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    case 13: return {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    case 16: return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
    case 19: return {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M};
  }
  throw ValueError("vgg: depth must be 11, 13, 16 or 19, got " + std::to_string(depth));
}
}  // namespace

std::unique_ptr<Module> vgg(int depth, bool batch_norm, int num_classes, int in_channels, int width, int hidden) {
  SV_CHECK(width > 0 && hidden > 0, ValueError,
           "vgg: width and hidden must be positive, got " + std::to_string(width) + ", " + std::to_string(hidden));
  auto features = std::make_unique<Sequential>();
  int c = in_channels;
  for (int v : config(depth)) {
    if (v != M) v = v / 64 * width;  // torchvision: width 64
    if (v == M) {
      Pool2dParams p;
      p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = 2;
      features->push(std::make_unique<MaxPool2d>(p));
      continue;
    }
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    features->push(std::make_unique<Conv2d>(c, v, 3, p, true));
    if (batch_norm) features->push(std::make_unique<BatchNorm2d>(v));
    features->push(std::make_unique<ReLU>());
    c = v;
  }

  auto classifier = std::make_unique<Sequential>();
  classifier->push(std::make_unique<Linear>(c * 7 * 7, hidden));  // 0
  classifier->push(std::make_unique<ReLU>());
  classifier->push(std::make_unique<Dropout>(0.5));
  classifier->push(std::make_unique<Linear>(hidden, hidden));  // 3
  classifier->push(std::make_unique<ReLU>());
  classifier->push(std::make_unique<Dropout>(0.5));
  classifier->push(std::make_unique<Linear>(hidden, num_classes));  // 6

  auto net = std::make_unique<ImageClassifier>("classifier");
  net->add("features", std::move(features));
  net->add("avgpool", std::make_unique<AdaptiveAvgPool2d>(7, 7));
  net->add("classifier", std::move(classifier));
  return net;
}

}  // namespace sv
