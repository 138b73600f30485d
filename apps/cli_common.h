// Helpers shared by the CLI subcommands: the common options (--model, --layer, --pool,
// --device, --max-batch), opening a model on a backend, loading inputs (.npy tensors or
// image files) and parsing --dims.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "apps/primitives.h"

namespace sv {

struct ModelOptions {
  std::string model;            // --model M.safetensors
  std::string device = "auto";  // --device cpu|cuda|auto
  int64_t max_batch = 16;       // --max-batch: images (or cotangents) per pass
};
struct LayerOptions {
  std::string layer;        // --layer L
  std::string pool = "avg"; // --pool avg|max|none
};

void add_model_options(CLI::App* cmd, ModelOptions& o, bool with_max_batch = true);
void add_layer_options(CLI::App* cmd, LayerOptions& o);

// A model loaded from its file and moved to the chosen backend.
struct Session {
  std::unique_ptr<Backend> backend;
  Model model;
};
Session open_session(const ModelOptions& o);

// Inputs of a command: one or more .npy files (N, C, H, W) used as they are (concatenated
// along N), or image files run through the model's eval transform. Mixing is refused.
Tensor load_inputs(const std::vector<std::string>& inputs, const ModelInfo& info);

// A flag's check at parse time against an enum's names (apps/enum_names.h): the error is
// parse_enum's ("unknown similarity 'x' (expected cosine, dot, pearson or shared)"), and
// --help lists the names.
template <class E, size_t N>
CLI::Validator one_of(const std::array<EnumName<E>, N>& names, const std::string& what) {
  std::string listed;
  for (const std::string& n : enum_choices(names)) listed += (listed.empty() ? "" : ",") + n;
  return CLI::Validator(
      [&names, what](std::string& s) -> std::string {
        try {
          parse_enum(names, s, what);
          return "";
        } catch (const ValueError& e) {
          return e.what();
        }
      },
      "{" + listed + "}");
}

// "0,5,17" -> {0, 5, 17}; ValueError on anything that is not a list of integers.
std::vector<int64_t> parse_dims(const std::string& s);

}  // namespace sv
