// Stages of a network and their re-initialisation (see randomisation.h).
#include "apps/method/randomisation.h"

#include <algorithm>
#include <map>

#include "autodiff/error.h"

namespace sv {

namespace {

std::string module_of(const std::string& tensor) {
  const size_t dot = tensor.rfind('.');
  return dot == std::string::npos ? "" : tensor.substr(0, dot);
}

bool inside(const std::string& path, const std::string& layer) {
  return path == layer || path.rfind(layer + ".", 0) == 0;
}

}  // namespace

std::vector<RandomisationStage> randomisation_stages(const Model& m, const std::string& layer) {
  m.check_layer(layer);
  const std::vector<std::string> names = m.layers();
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < names.size(); ++i) position.emplace(names[i], i);
  const size_t layer_pos = position.at(layer);
  std::vector<RandomisationStage> stages;  // bottom first while collecting
  for (auto& [name, p] : m.net->state()) {
    if (!p->value.defined()) continue;
    const std::string mod = module_of(name);
    const auto it = position.find(mod);
    const bool before = it != position.end() && it->second <= layer_pos;
    if (!before && !inside(mod, layer)) continue;
    const bool weight_layer = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && p->value.ndim() >= 2;
    if (weight_layer || stages.empty()) stages.push_back({mod, {}});
    if (weight_layer) stages.back().name = mod;
    stages.back().tensors.push_back(name);
  }
  std::reverse(stages.begin(), stages.end());
  return stages;
}

void randomise_stage(Model& m, const RandomisationStage& stage, uint64_t seed, Backend& be) {
  Model fresh = make_model(m.info);
  init_portable(*fresh.net, seed);
  std::map<std::string, Param*> drawn;
  for (auto& [name, p] : fresh.net->state()) drawn.emplace(name, p);
  std::map<std::string, Param*> own;
  for (auto& [name, p] : m.net->state()) own.emplace(name, p);
  for (const std::string& t : stage.tensors) {
    SV_CHECK(drawn.count(t) && own.count(t), ValueError, "randomise_stage: no tensor " + t + " in the model");
    Param* p = own.at(t);
    SV_CHECK(drawn.at(t)->value.shape() == p->value.shape(), ShapeError,
             "randomise_stage: " + t + " has shape " + shape_str(p->value.shape()) + " but the architecture's is " +
                 shape_str(drawn.at(t)->value.shape()));
    p->value = drawn.at(t)->value.to(p->value.dtype());
  }
  m.net->to(be);  // uploads the new host tensors (the others stay) and drops derived caches
}

}  // namespace sv
