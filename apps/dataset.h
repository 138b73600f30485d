// Fashion-MNIST (Zalando's 28x28 grayscale clothing images, 10 classes) as model input.
//
// Files: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz (60000 images) and
// t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (10000), in the layout Zalando
// publishes them; the Debian package dataset-fashion-mnist installs them in
// kFashionMnistDir. Uncompressed copies without ".gz" are accepted too.
#pragma once
#include <string>
#include <vector>

#include "autodiff/tensor.h"

namespace sv {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// Pixel statistics of the training set (pixels scaled to [0, 1]).
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;

struct Dataset {
  Tensor images;  // (N, 1, 28, 28) float32, (pixel / 255 - mean) / std
  Tensor labels;  // (N) int32 in [0, classes.size())
  std::vector<std::string> classes;
  int64_t size() const { return images.defined() ? images.dim(0) : 0; }
};

// "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot".
const std::vector<std::string>& fashion_mnist_classes();

// Loads the training (train = true) or test split from dir; limit > 0 keeps the first
// `limit` images. The images and labels files must agree in count, be 28x28, and hold
// labels < 10; each problem is an IoError naming the file.
Dataset load_fashion_mnist(const std::string& dir, bool train, int64_t limit = 0,
                           float mean = kFashionMnistMean, float std = kFashionMnistStd);

}  // namespace sv
