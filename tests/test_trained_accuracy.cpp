// Input-gradient accuracy on trained weights (issue #11, "trained-weight accuracy"): on the
// bundled, trained Fashion-MNIST CNN and real Fashion-MNIST images, our float32 input
// gradient d<G, phi(x)>/dx must be no further from the float64 gradient than 1.5 times
// PyTorch's float32 gradient is, measured as the relative L2 error ||g - g64|| / ||g64||.
// Both comparisons are computed here from tests/fixtures/trained/ (made by
// tests/make_trained_fixture.py): the float64 and the PyTorch float32 gradients, for the
// CPU reference backend and the fast CPU backend, with every cotangent in one backward pass
// and with one per pass. Before the fix the reference was about 2x and the fast path up to
// 1.8x PyTorch's error (float sums over thousands of cancelling products; docs/accuracy.md).
// The fixtures belong to weights/fmnist_cnn.safetensors as committed: regenerate them
// (tests/make_trained_fixture.py) whenever that file changes. The same for a small trained
// VGG11-BN and ResNet18 (torchvision's structure at width 8, trained here on upsampled
// Fashion-MNIST by tests/train_small_models.py; tests/fixtures/trained/<name>.safetensors).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <ostream>
#include <vector>

#include "apps/io/npy.h"
#include "apps/primitives.h"
#include "backends/factory.h"
#include "weights/models/archs.h"
#include "weights/safetensors.h"

namespace sv {
namespace {

const std::string kDir = std::string(SHAREDVIS_SOURCE_DIR) + "/tests/fixtures/trained/";

// The float64 gradient, stored as two float32 files hi + lo (tests/make_trained_fixture.py).
std::vector<double> read_f64(const std::string& stem, Shape& shape) {
  const Tensor hi = read_npy(stem + "_hi.npy"), lo = read_npy(stem + "_lo.npy");
  EXPECT_EQ(hi.shape(), lo.shape());
  shape = hi.shape();
  std::vector<double> v(static_cast<size_t>(hi.numel()));
  for (int64_t i = 0; i < hi.numel(); ++i) v[i] = hi.item(i) + lo.item(i);
  return v;
}

// ||a - b|| / ||b|| over all elements, in double.
double rel_l2(const Tensor& a, const std::vector<double>& b) {
  EXPECT_EQ(a.numel(), static_cast<int64_t>(b.size()));
  if (a.numel() != static_cast<int64_t>(b.size())) return INFINITY;
  double d = 0, n = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double bi = b[i], di = a.item(i) - bi;
    d += di * di;
    n += bi * bi;
  }
  return std::sqrt(d) / std::sqrt(n);
}

struct Case {
  std::string model, layer, pool;  // model: "" for the bundled fmnist_cnn, else a small model's name
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << (c.model.empty() ? "fmnist_cnn" : c.model) << " " << c.layer << " (" << c.pool << ")";
}

// The small models: built at their width (weights/models/archs.h), weights read from the file.
Model load_small(const std::string& name) {
  Model m;
  m.info.arch = name;
  m.info.num_classes = 10;
  m.info.in_channels = 3;
  if (name == "vgg11_bn_w8")
    m.net = vgg(11, true, 10, 3, 8, 64);
  else if (name == "resnet18_w8")
    m.net = resnet(18, 10, 3, 8);
  else
    throw ValueError("unknown small model " + name);
  SafetensorsReader f(kDir + name + ".safetensors");
  for (auto& [key, p] : m.net->state()) {
    const StEntry* e = f.find(key);
    if (e == nullptr) throw IoError(name + ": missing tensor " + key);
    p->value = f.read(*e);
    p->grad = Tensor();
  }
  m.net->invalidate_tree();
  return m;
}

class TrainedAccuracy : public ::testing::TestWithParam<Case> {};

TEST_P(TrainedAccuracy, InputGradientWithinOneAndAHalfOfPyTorchFloat32) {
  const Case& c = GetParam();
  const std::string dir = c.model.empty() ? kDir : kDir + c.model + "/";
  const std::string stem = dir + c.layer + "_" + c.pool;
  const Tensor x = read_npy(dir + "x.npy"), G = read_npy(stem + "_G.npy");
  Shape shape;
  const std::vector<double> g64 = read_f64(stem + "_grad64", shape);
  const Tensor g32 = read_npy(stem + "_grad32.npy");
  ASSERT_EQ(g32.shape(), shape);
  const double torch_err = rel_l2(g32, g64);
  ASSERT_GT(torch_err, 0.0) << "the float32 fixture equals the float64 one: nothing to compare with";
  ASSERT_LT(torch_err, 1e-5) << "PyTorch's float32 gradient is far from float64: the fixture is not what it should be";

  for (bool reference : {true, false}) {
    for (int64_t max_k : {G.dim(0), int64_t{1}}) {
      std::unique_ptr<Backend> be = make_cpu_backend(reference, 2);
      Model m = c.model.empty() ? load_model(std::string(SHAREDVIS_SOURCE_DIR) + "/weights/fmnist_cnn.safetensors")
                                : load_small(c.model);
      model_to(m, *be);
      const Tensor S = vjp(m, *be, c.layer, parse_pool(c.pool), x, G, max_k);
      ASSERT_EQ(S.shape(), shape);
      const double err = rel_l2(S, g64);
      EXPECT_LE(err, 1.5 * torch_err) << c.model << " " << c.layer << " (" << c.pool << ") on " << be->name() << ", " << max_k
                                      << " cotangent(s) per pass: relative L2 error against float64 " << err
                                      << ", PyTorch float32's " << torch_err << " (ratio " << err / torch_err << ")";
      RecordProperty(std::string(reference ? "reference" : "fast") + "_k" + std::to_string(max_k) + "_ratio",
                     std::to_string(err / torch_err));
    }
  }
}

// SHAREDVIS_CPU_K_SLICE (docs/accuracy.md, "Fast mode"): 0 (whole K) or a slice length;
// anything else is refused when the backend is made.
TEST(TrainedAccuracyOption, CpuKSliceEnvironmentVariable) {
  for (const char* bad : {"fast", "-1", "48x"}) {
    ::setenv("SHAREDVIS_CPU_K_SLICE", bad, 1);
    EXPECT_THROW(make_cpu_backend(false, 1), ValueError) << bad;
  }
  for (const char* good : {"0", "48", "96"}) {
    ::setenv("SHAREDVIS_CPU_K_SLICE", good, 1);
    EXPECT_NO_THROW(make_cpu_backend(false, 1)) << good;
  }
  ::unsetenv("SHAREDVIS_CPU_K_SLICE");
}

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  std::string s = i.param.layer + "_" + i.param.pool;
  for (char& ch : s)
    if (ch == '.') ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(FmnistCnn, TrainedAccuracy,
                         ::testing::Values(Case{"", "features.2", "avg"}, Case{"", "features.6", "avg"},
                                           Case{"", "features.10", "avg"}, Case{"", "features.10", "none"},
                                           Case{"", "classifier.4", "none"}),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Vgg11BnW8, TrainedAccuracy,
                         ::testing::Values(Case{"vgg11_bn_w8", "features.2", "avg"},
                                           Case{"vgg11_bn_w8", "features.13", "avg"},
                                           Case{"vgg11_bn_w8", "features.20", "avg"},
                                           Case{"vgg11_bn_w8", "features.27", "avg"},
                                           Case{"vgg11_bn_w8", "features.27", "none"},
                                           Case{"vgg11_bn_w8", "classifier.6", "none"}),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Resnet18W8, TrainedAccuracy,
                         ::testing::Values(Case{"resnet18_w8", "layer1", "avg"}, Case{"resnet18_w8", "layer2", "avg"},
                                           Case{"resnet18_w8", "layer3.1", "avg"}, Case{"resnet18_w8", "layer4", "avg"},
                                           Case{"resnet18_w8", "layer4", "none"}, Case{"resnet18_w8", "fc", "none"}),
                         case_name);

}  // namespace
}  // namespace sv
