// fmnist_cnn: the small CNN bundled for Fashion-MNIST (1x28x28 grayscale, 10 classes),
// trained from scratch by `sharedvis train` (apps/train.cpp) into weights/fmnist_cnn.safetensors.
//
// Named like torchvision's VGG so that layer paths read the same way:
//   features    Sequential
//     0 Conv2d(1, 32, 3, pad 1)    1 BatchNorm2d(32)    2 ReLU    3 MaxPool2d(2)   (N, 32, 14, 14)
//     4 Conv2d(32, 64, 3, pad 1)   5 BatchNorm2d(64)    6 ReLU    7 MaxPool2d(2)   (N, 64, 7, 7)
//     8 Conv2d(64, 128, 3, pad 1)  9 BatchNorm2d(128)  10 ReLU                     (N, 128, 7, 7)
//   (flatten)                                                                     (N, 6272)
//   classifier  Sequential
//     0 Dropout(0.3)  1 Linear(6272, 128)  2 ReLU  3 Dropout(0.3)  4 Linear(128, num_classes)
// Convolutions carry no bias (each is followed by batchnorm). The logits are the output of
// classifier.4; "features" (or features.6, features.10) is the natural readout layer for
// synthetic neurons. The input must be 28x28: classifier.1 expects 128 * 7 * 7 features.
//
// Why this size: one forward + backward costs about 8 M multiply-adds per image (the three
// convolutions 0.2 M + 3.6 M + 3.6 M, the classifier 0.8 M), so an epoch of the 60000
// training images takes about a minute on 2 cores and 8 epochs fit the 10-minute
// training budget; it reaches about 92.8% test accuracy there (weights/README.md). A
// VGG-style variant with two convolutions per stage (32, 32, 64, 64) costs twice as much
// per image and reached 90.3% in the 3 epochs that fit.
#include "weights/models/archs.h"

namespace sv {

std::unique_ptr<Module> fmnist_cnn(int num_classes, int in_channels) {
  SV_CHECK(num_classes > 0 && in_channels > 0, ValueError, "fmnist_cnn: num_classes and in_channels must be positive");
  auto features = std::make_unique<Sequential>();
  auto conv_bn_relu = [&](int in, int out) {
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    features->push(std::make_unique<Conv2d>(in, out, 3, p, false));
    features->push(std::make_unique<BatchNorm2d>(out));
    features->push(std::make_unique<ReLU>());
  };
  Pool2dParams pool;
  pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
  conv_bn_relu(in_channels, 32);
  features->push(std::make_unique<MaxPool2d>(pool));
  conv_bn_relu(32, 64);
  features->push(std::make_unique<MaxPool2d>(pool));
  conv_bn_relu(64, 128);

  auto classifier = std::make_unique<Sequential>();
  classifier->push(std::make_unique<Dropout>(0.3));
  classifier->push(std::make_unique<Linear>(128 * 7 * 7, 128));
  classifier->push(std::make_unique<ReLU>());
  classifier->push(std::make_unique<Dropout>(0.3));
  classifier->push(std::make_unique<Linear>(128, num_classes));

  auto net = std::make_unique<ImageClassifier>("classifier");
  net->add("features", std::move(features));
  net->add("classifier", std::move(classifier));
  return net;
}

}  // namespace sv
