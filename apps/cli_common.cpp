#include "apps/cli_common.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "apps/io/image.h"
#include "apps/io/npy.h"
#include "backends/factory.h"

namespace sv {

void add_model_options(CLI::App* cmd, ModelOptions& o, bool with_max_batch) {
  cmd->add_option("--model", o.model, "model file (.safetensors)")->required();
  cmd->add_option("--device", o.device, "where to compute: cpu, cuda or auto (CUDA when available)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  if (with_max_batch)
    cmd->add_option("--max-batch", o.max_batch, "images (or cotangents) per forward/backward pass")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
}

void add_layer_options(CLI::App* cmd, LayerOptions& o) {
  cmd->add_option("--layer", o.layer, "layer whose output is φ (see `sharedvis info`)")->required();
  cmd->add_option("--pool", o.pool, "φ from the layer output: avg (spatial mean), max (spatial max), none (flatten)")
      ->check(one_of(kPoolNames, "pooling"))
      ->capture_default_str();
}

Session open_session(const ModelOptions& o) {
  Session s;
  s.backend = make_backend(o.device);
  s.model = load_model(o.model);
  model_to(s.model, *s.backend);
  return s;
}

namespace {
bool ends_with_npy(const std::string& p) {
  std::string ext = std::filesystem::path(p).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".npy";
}
}  // namespace

Tensor load_inputs(const std::vector<std::string>& inputs, const ModelInfo& info) {
  SV_CHECK(!inputs.empty(), ValueError, "no --input given");
  size_t npy = 0;
  for (const std::string& p : inputs) npy += ends_with_npy(p);
  SV_CHECK(npy == 0 || npy == inputs.size(), ValueError,
           "--input mixes .npy tensors and image files; give either .npy files or images");
  if (npy == 0) return load_images(inputs, info);
  std::vector<Tensor> parts;
  int64_t N = 0;
  for (const std::string& p : inputs) {
    Tensor t = read_npy(p);
    SV_CHECK(t.ndim() == 4, ShapeError, p + ": input tensor has shape " + shape_str(t.shape()) + ", expected (N, C, H, W)");
    SV_CHECK(t.dim(1) == info.in_channels, ShapeError,
             p + ": input has " + std::to_string(t.dim(1)) + " channels, the model " + info.arch + " takes " +
                 std::to_string(info.in_channels));
    SV_CHECK(parts.empty() || Shape(t.shape().begin() + 1, t.shape().end()) ==
                                  Shape(parts[0].shape().begin() + 1, parts[0].shape().end()),
             ShapeError, p + ": image shape " + shape_str(t.shape()) + " differs from " + inputs[0] + "'s " +
                             shape_str(parts[0].shape()));
    N += t.dim(0);
    parts.push_back(t);
  }
  if (parts.size() == 1) return parts[0];
  Shape s = parts[0].shape();
  s[0] = N;
  Tensor out = Tensor::empty(s);
  float* o = out.data<float>();
  for (const Tensor& t : parts) o = std::copy_n(t.data<float>(), t.numel(), o);
  return out;
}

std::vector<int64_t> parse_dims(const std::string& s) {
  std::vector<int64_t> dims;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string tok = s.substr(i, j - i);
    while (!tok.empty() && tok.front() == ' ') tok.erase(tok.begin());
    while (!tok.empty() && tok.back() == ' ') tok.pop_back();
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SV_CHECK(!tok.empty() && used == tok.size(), ValueError,
             "--dims '" + s + "': '" + tok + "' is not an integer (expected a comma-separated list like 0,5,17)");
    SV_CHECK(v >= 0, ValueError, "--dims '" + s + "': dims must be non-negative, got " + tok);
    dims.push_back(v);
    i = j + 1;
  }
  return dims;
}

}  // namespace sv
