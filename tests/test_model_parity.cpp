// Whole-model parity with PyTorch: every real torchvision architecture (alexnet, vgg11-19
// with and without bn, resnet18-152) with portable pseudo-random weights, rebuilt natively by
// sv::init_portable, run on the CPU backend and compared with the float64 PyTorch outputs
// stored by tests/make_fixtures.py: features at several layers with each pooling (1e-4)
// and vector-Jacobian products with K = 1 and K = 3 cotangents (1e-3). Errors are
// normalized: max |ours - torch| / max |torch|. Also: module names and state-dict keys of
// every architecture against torchvision's (tests/fixtures/torchvision_names.json).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "backends/factory.h"
#include "weights/model.h"
#include "weights/safetensors.h"
#include "tests/tensor_compare.h"

namespace sv::test {
namespace {

std::string fixture_path(const std::string& file) {
  return std::string(SHAREDVIS_SOURCE_DIR) + "/tests/fixtures/" + file;
}

Var pooled(const Var& y, const std::string& pool) {
  if (y.value.ndim() == 4 && pool == "avg") return global_avgpool(y);
  if (y.value.ndim() == 4 && pool == "max") return global_maxpool(y);
  EXPECT_EQ(pool, "none");
  return flatten(y);
}

// The output of `layer` (forward stops there).
Var run_to(Model& m, Graph& g, const Var& x, const std::string& layer) {
  Forward fw(g, layer);
  m.net->forward(x, fw);
  EXPECT_TRUE(fw.done()) << "layer " << layer << " was never reached";
  return fw.captured();
}

// The model a fixture describes, with its portable weights.
Model fixture_model(const SafetensorsReader& f) {
  const StMetadata& md = f.metadata();
  ModelInfo info;
  info.arch = md.at("arch");
  info.num_classes = std::stoi(md.at("num_classes"));
  info.in_channels = std::stoi(md.at("in_channels"));
  Model m = make_model(info);
  init_portable(*m.net, std::stoull(md.at("seed")));
  return m;
}

std::string temp_dir() {
  std::random_device rd;
  auto d = std::filesystem::temp_directory_path() / ("sv_parity_" + std::to_string(rd()));
  std::filesystem::create_directories(d);
  return d.string();
}

class ModelParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelParity, FeaturesAndVjpsMatchPyTorch) {
  SafetensorsReader f(fixture_path(GetParam() + ".safetensors"));
  ASSERT_EQ(f.metadata().at("fixture_version"), "1");
  Model m = fixture_model(f);
  auto be = make_cpu_backend();
  m.net->to(*be);
  const Tensor x = f.read("input");  // (N, C, H, W)

  // the generator reproduces PyTorch's weights bit for bit
  std::map<std::string, Tensor> state;
  for (auto& [name, p] : m.net->state()) state[name] = p->value;
  int probes = 0, cases = 0;
  for (const StEntry& e : f.entries()) {
    if (e.name.rfind("probe/", 0) != 0) continue;
    const Tensor want = f.read(e);
    const std::vector<float> have = state.at(e.name.substr(6)).to_vector();
    for (int64_t i = 0; i < want.numel(); ++i) ASSERT_EQ(have[i], want.item(i)) << e.name << " [" << i << "]";
    ++probes;
  }
  EXPECT_GE(probes, 2);

  double worst_features = 0, worst_vjp = 0;
  for (const StEntry& e : f.entries()) {
    // "features/<layer>/<pool>" and "vjp<K>/<layer>/<pool>/grad"
    const bool feat = e.name.rfind("features/", 0) == 0;
    const bool vjp = e.name.rfind("vjp", 0) == 0 && e.name.size() > 5 && e.name.substr(e.name.size() - 5) == "/grad";
    if (!feat && !vjp) continue;
    const size_t a = e.name.find('/') + 1, b = e.name.find('/', a), c = e.name.find('/', b + 1);
    const std::string layer = e.name.substr(a, b - a),
                      pool = e.name.substr(b + 1, c == std::string::npos ? c : c - b - 1);
    const Tensor want = f.read(e);
    double err = 0;
    if (feat) {
      Graph g(*be, false);
      Var y = pooled(run_to(m, g, g.input(x), layer), pool);
      err = normalized_error(be->download(y.value), want);
      EXPECT_LT(err, 1e-4) << GetParam() << " " << e.name;
      worst_features = std::max(worst_features, err);
    } else {
      const std::string prefix = e.name.substr(0, e.name.size() - 5);
      const Tensor cot = f.read(prefix + "/cot");  // (K, N, D)
      Graph g(*be, true);
      Var xv = g.input(x, true);
      Var y = pooled(run_to(m, g, xv, layer), pool);
      std::vector<Tensor> grads = g.vjp(y, be->upload(cot), {xv});
      err = normalized_error(be->download(grads.at(0)), want);  // (K, N, C, H, W)
      EXPECT_LT(err, 1e-3) << GetParam() << " " << e.name;
      worst_vjp = std::max(worst_vjp, err);
    }
    std::printf("  %-10s %-42s %.2e\n", GetParam().c_str(), e.name.c_str(), err);
    ++cases;
  }
  EXPECT_GE(cases, 8);
  std::printf("  %-10s worst: features %.2e, vjp %.2e\n", GetParam().c_str(), worst_features, worst_vjp);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelParity,
                         ::testing::Values("alexnet", "vgg11", "vgg11_bn", "resnet18", "resnet50", "vgg13", "vgg16",
                                           "vgg19", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet34", "resnet101",
                                           "resnet152"),
                         [](const auto& info) { return info.param; });

// A model file round trip through save_model / load_model keeps every tensor and the metadata.
TEST(ModelFile, SaveLoadRoundTrip) {
  SafetensorsReader f(fixture_path("resnet18.safetensors"));
  Model m = fixture_model(f);
  m.info.input_size = 67;
  m.info.mean = {0.5f, 0.25f, 0.125f};
  m.info.metadata["note"] = "round trip";
  const std::string dir = temp_dir(), path = dir + "/resnet18.safetensors";
  save_model(m, path);
  Model back = load_model(path);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(back.info.arch, "resnet18");
  EXPECT_EQ(back.info.num_classes, 10);
  EXPECT_EQ(back.info.in_channels, 3);
  EXPECT_EQ(back.info.input_size, 67);
  EXPECT_EQ(back.info.mean, m.info.mean);
  EXPECT_EQ(back.info.std, m.info.std);
  EXPECT_EQ(back.info.metadata.at("note"), "round trip");
  auto s1 = m.net->state(), s2 = back.net->state();
  ASSERT_EQ(s1.size(), s2.size());
  for (size_t i = 0; i < s1.size(); ++i) {
    ASSERT_EQ(s1[i].first, s2[i].first);
    EXPECT_EQ(normalized_error(s2[i].second->value, s1[i].second->value), 0.0) << s1[i].first;
  }
}

// Module paths and state-dict keys (with shapes) equal torchvision's named_modules() and
// state_dict() for every architecture (1000 classes, 3 channels), in the same order.
TEST(ModelNames, MatchTorchvision) {
  std::ifstream in(fixture_path("torchvision_names.json"));
  ASSERT_TRUE(in) << "missing fixture torchvision_names.json";
  const nlohmann::json names = nlohmann::json::parse(in);
  for (const std::string& arch : known_archs()) {
    if (!names.contains(arch)) continue;  // architectures of our own (fmnist_cnn)
    ModelInfo info;
    info.arch = arch;
    Model m = make_model(info);
    EXPECT_EQ(m.layers(), names[arch]["modules"].get<std::vector<std::string>>()) << arch;
    std::vector<std::pair<std::string, Shape>> ours, theirs = names[arch]["state"];
    for (auto& [name, p] : m.net->state()) ours.emplace_back(name, p->value.shape());
    EXPECT_EQ(ours, theirs) << arch;
  }
  EXPECT_EQ(names.size(), 14u);
}

TEST(ModelNames, LayerListsAndUnknownLayer) {
  ModelInfo info;
  info.arch = "resnet50";
  Model r = make_model(info);
  std::vector<std::string> layers = r.layers();
  EXPECT_EQ(layers.front(), "conv1");
  EXPECT_EQ(layers.back(), "fc");
  for (const char* l : {"layer3", "layer4.0", "layer4.0.conv2", "layer4.0.downsample.1", "avgpool"})
    EXPECT_NO_THROW(r.check_layer(l)) << l;
  try {
    r.check_layer("layer5");
    ADD_FAILURE() << "no error for an unknown layer";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("layer5"), std::string::npos) << msg;
    EXPECT_NE(msg.find("layer4.0.conv2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("avgpool, fc"), std::string::npos) << msg;
  }
  info.arch = "alexnet";
  Model a = make_model(info);
  for (const char* l : {"features.11", "features", "avgpool", "classifier.4", "classifier.6"})
    EXPECT_NO_THROW(a.check_layer(l));
  EXPECT_THROW(a.check_layer("classifier.7"), ValueError);
  EXPECT_THROW(a.check_layer("fc"), ValueError);
  try {
    build_arch("resnet9", 10, 3);
    ADD_FAILURE() << "no error for an unknown architecture";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("vgg16_bn"), std::string::npos) << e.what();
  }
}

// in_channels and num_classes reach the first convolution and the classifier.
TEST(ModelNames, InChannelsAndNumClasses) {
  for (const char* arch : {"alexnet", "vgg13_bn", "resnet34", "resnet101"}) {
    auto net = build_arch(arch, 7, 1);
    auto state = net->state();
    EXPECT_EQ(state.front().second->value.dim(1), 1) << arch;
    const Param* cls = nullptr;
    for (auto& [name, p] : state)
      if (p->value.ndim() == 2) cls = p;
    ASSERT_NE(cls, nullptr);
    EXPECT_EQ(cls->value.dim(0), 7) << arch;
  }
}

}  // namespace
}  // namespace sv::test
