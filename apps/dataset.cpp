// Fashion-MNIST: two IDX files per split, decoded and normalized into a Dataset.
#include "apps/dataset.h"

#include <algorithm>
#include <filesystem>

#include "apps/io/idx.h"

namespace sv {

namespace {
// dir/name.gz, or dir/name if only the uncompressed file is there.
std::string find_file(const std::string& dir, const std::string& name) {
  const std::filesystem::path gz = std::filesystem::path(dir) / (name + ".gz");
  const std::filesystem::path raw = std::filesystem::path(dir) / name;
  std::error_code ec;
  if (!std::filesystem::exists(gz, ec) && std::filesystem::exists(raw, ec)) return raw.string();
  return gz.string();
}
}  // namespace

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

Dataset load_fashion_mnist(const std::string& dir, bool train, int64_t limit, float mean, float std) {
  SV_CHECK(std > 0, ValueError, "load_fashion_mnist: std must be positive");
  const std::string prefix = train ? "train" : "t10k";
  const std::string ipath = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string lpath = find_file(dir, prefix + "-labels-idx1-ubyte");
  IdxArray im = read_idx(ipath);
  IdxArray lb = read_idx(lpath);
  SV_CHECK(im.dims.size() == 3 && im.dims[1] == 28 && im.dims[2] == 28, IoError,
           ipath + ": expected images of shape (N, 28, 28), got " + shape_str(im.dims));
  SV_CHECK(lb.dims.size() == 1, IoError, lpath + ": expected labels of shape (N), got " + shape_str(lb.dims));
  SV_CHECK(im.dims[0] == lb.dims[0], IoError,
           ipath + " holds " + std::to_string(im.dims[0]) + " images but " + lpath + " holds " +
               std::to_string(lb.dims[0]) + " labels");

  const auto& classes = fashion_mnist_classes();
  const int64_t N = limit > 0 ? std::min(limit, im.dims[0]) : im.dims[0];
  const int64_t P = 28 * 28;
  Dataset d;
  d.classes = classes;
  d.images = Tensor::empty({N, 1, 28, 28});
  d.labels = Tensor::empty({N}, DType::I32);
  float* X = d.images.data<float>();
  int32_t* Y = d.labels.data<int32_t>();
  for (int64_t i = 0; i < N * P; ++i) X[i] = (static_cast<float>(im.data[i]) / 255.0f - mean) / std;
  for (int64_t i = 0; i < N; ++i) {
    SV_CHECK(lb.data[i] < classes.size(), IoError,
             lpath + ": label " + std::to_string(lb.data[i]) + " at index " + std::to_string(i) + " is not in [0, " +
                 std::to_string(classes.size()) + ")");
    Y[i] = lb.data[i];
  }
  return d;
}

}  // namespace sv
