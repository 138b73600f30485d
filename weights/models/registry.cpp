// The architecture registry: name -> factory, and the names of the tensors from which a
// model file's in_channels and num_classes are inferred.
#include "weights/model.h"
#include "weights/models/archs.h"

namespace sv {

// To add an architecture: define its factory in weights/models/NAME.cpp, declare it in
// archs.h and add one row here: {"name", factory, "first.conv.weight", "classifier.weight"}.
const std::vector<ArchEntry>& arch_registry() {
  static const std::vector<ArchEntry> table = {
      {"alexnet", alexnet, "features.0.weight", "classifier.6.weight"},
      {"vgg11", [](int nc, int ic) { return vgg(11, false, nc, ic); }, "features.0.weight", "classifier.6.weight"},
      {"vgg13", [](int nc, int ic) { return vgg(13, false, nc, ic); }, "features.0.weight", "classifier.6.weight"},
      {"vgg16", [](int nc, int ic) { return vgg(16, false, nc, ic); }, "features.0.weight", "classifier.6.weight"},
      {"vgg19", [](int nc, int ic) { return vgg(19, false, nc, ic); }, "features.0.weight", "classifier.6.weight"},
      {"vgg11_bn", [](int nc, int ic) { return vgg(11, true, nc, ic); }, "features.0.weight", "classifier.6.weight"},
      {"vgg13_bn", [](int nc, int ic) { return vgg(13, true, nc, ic); }, "features.0.weight", "classifier.6.weight"},
      {"vgg16_bn", [](int nc, int ic) { return vgg(16, true, nc, ic); }, "features.0.weight", "classifier.6.weight"},
      {"vgg19_bn", [](int nc, int ic) { return vgg(19, true, nc, ic); }, "features.0.weight", "classifier.6.weight"},
      {"resnet18", [](int nc, int ic) { return resnet(18, nc, ic); }, "conv1.weight", "fc.weight"},
      {"resnet34", [](int nc, int ic) { return resnet(34, nc, ic); }, "conv1.weight", "fc.weight"},
      {"resnet50", [](int nc, int ic) { return resnet(50, nc, ic); }, "conv1.weight", "fc.weight"},
      {"resnet101", [](int nc, int ic) { return resnet(101, nc, ic); }, "conv1.weight", "fc.weight"},
      {"resnet152", [](int nc, int ic) { return resnet(152, nc, ic); }, "conv1.weight", "fc.weight"},
      {"fmnist_cnn", fmnist_cnn, "features.0.weight", "classifier.4.weight"},
  };
  return table;
}

const ArchEntry* find_arch(const std::string& name) {
  for (const ArchEntry& e : arch_registry())
    if (name == e.name) return &e;
  return nullptr;
}

std::vector<std::string> known_archs() {
  std::vector<std::string> out;
  for (const ArchEntry& e : arch_registry()) out.emplace_back(e.name);
  return out;
}

namespace {
std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}
}  // namespace

std::unique_ptr<Module> build_arch(const std::string& arch, int num_classes, int in_channels) {
  const ArchEntry* e = find_arch(arch);
  SV_CHECK(e != nullptr, ValueError, "unknown architecture '" + arch + "'; known: " + joined(known_archs()));
  SV_CHECK(num_classes > 0, ValueError, arch + ": num_classes must be positive, got " + std::to_string(num_classes));
  SV_CHECK(in_channels > 0, ValueError, arch + ": in_channels must be positive, got " + std::to_string(in_channels));
  return e->build(num_classes, in_channels);
}

Var ImageClassifier::forward(const Var& x, Forward& fw) {
  std::vector<Forward::Step> body, head;  // before the head, and from it on
  for (auto& [name, m] : children_) (name == head_ || !head.empty() ? head : body).push_back({name, m.get()});
  Var y = fw.call_steps(body, x);
  if (fw.done() || head.empty()) return y;
  return fw.call_steps(head, flatten(y));  // torch.flatten(x, 1)
}

}  // namespace sv
