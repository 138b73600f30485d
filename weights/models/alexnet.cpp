// AlexNet as in torchvision (models/alexnet.py), module names and all:
//   features   (N,3,224,224) -> (N,256,6,6)   Conv 11/4, ReLU, MaxPool 3/2, Conv 5, ReLU, MaxPool,
//                                              Conv 3, ReLU, Conv 3, ReLU, Conv 3, ReLU, MaxPool
//   avgpool    AdaptiveAvgPool2d(6, 6)         (N,256,6,6)
//   (flatten)                                  (N,9216)
//   classifier Dropout, Linear 9216->4096, ReLU, Dropout, Linear 4096->4096, ReLU, Linear -> classes
#include "weights/models/archs.h"

namespace sv {

namespace {
std::unique_ptr<Module> conv(int in, int out, int k, int stride, int pad) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return std::make_unique<Conv2d>(in, out, k, p, true);
}
std::unique_ptr<Module> maxpool3s2() {
  Pool2dParams p;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = 2;
  return std::make_unique<MaxPool2d>(p);
}
}  // namespace

std::unique_ptr<Module> alexnet(int num_classes, int in_channels) {
  auto features = std::make_unique<Sequential>();
  features->push(conv(in_channels, 64, 11, 4, 2));  // 0
  features->push(std::make_unique<ReLU>());
  features->push(maxpool3s2());
  features->push(conv(64, 192, 5, 1, 2));  // 3
  features->push(std::make_unique<ReLU>());
  features->push(maxpool3s2());
  features->push(conv(192, 384, 3, 1, 1));  // 6
  features->push(std::make_unique<ReLU>());
  features->push(conv(384, 256, 3, 1, 1));  // 8
  features->push(std::make_unique<ReLU>());
  features->push(conv(256, 256, 3, 1, 1));  // 10
  features->push(std::make_unique<ReLU>());
  features->push(maxpool3s2());  // 12

  auto classifier = std::make_unique<Sequential>();
  classifier->push(std::make_unique<Dropout>(0.5));
  classifier->push(std::make_unique<Linear>(256 * 6 * 6, 4096));  // 1
  classifier->push(std::make_unique<ReLU>());
  classifier->push(std::make_unique<Dropout>(0.5));
  classifier->push(std::make_unique<Linear>(4096, 4096));  // 4
  classifier->push(std::make_unique<ReLU>());
  classifier->push(std::make_unique<Linear>(4096, num_classes));  // 6

  auto net = std::make_unique<ImageClassifier>("classifier");
  net->add("features", std::move(features));
  net->add("avgpool", std::make_unique<AdaptiveAvgPool2d>(6, 6));
  net->add("classifier", std::move(classifier));
  return net;
}

}  // namespace sv
