// sharedvis info --model M.safetensors: what a model file holds and what its layers output.
#include <cstdio>

#include "apps/cli_common.h"
#include "apps/commands.h"
#include "apps/shape_probe.h"
#include "backends/factory.h"

namespace sv {

namespace {

std::string join_floats(const std::vector<float>& v) {
  std::string s;
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%g", i ? ", " : "", static_cast<double>(v[i]));
    s += buf;
  }
  return s;
}

void run_info(const ModelOptions& o) {
  Model m = load_model(o.model);
  std::unique_ptr<Backend> be = make_backend(o.device);
  const ModelInfo& info = m.info;
  int64_t params = 0, total = 0;
  for (Param* p : m.net->parameters()) params += p->value.numel();
  for (auto& [name, p] : m.net->state())
    if (p->value.defined()) total += p->value.numel();
  std::printf("model:       %s\n", o.model.c_str());
  std::printf("arch:        %s\n", info.arch.c_str());
  std::printf("input:       (%d, %d, %d) after resize to %d and center crop to %d\n", info.in_channels,
              info.input_size, info.input_size, info.resize_size, info.input_size);
  std::printf("normalize:   mean (%s), std (%s)\n", join_floats(info.mean).c_str(), join_floats(info.std).c_str());
  std::printf("classes:     %d\n", info.num_classes);
  std::printf("parameters:  %lld trainable (+ %lld in buffers: batchnorm running statistics)\n",
              static_cast<long long>(params), static_cast<long long>(total - params));
  std::printf("device:      %s\n", be->name().c_str());
  std::printf("metadata:\n");
  for (const auto& [k, v] : info.metadata) std::printf("  %s: %s\n", k.c_str(), v.c_str());
  std::printf("layers (output shape for one input):\n");
  for (const LayerShape& l : layer_output_shapes(m, {1, info.in_channels, info.input_size, info.input_size}))
    std::printf("  %-28s %s\n", l.name.c_str(), l.shape.empty() ? "(not reached)" : shape_str(l.shape).c_str());
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto opts = std::make_shared<ModelOptions>();
  CLI::App* cmd = app.add_subcommand("info", "Show a model file: architecture, metadata, input, parameters, layers");
  add_model_options(cmd, *opts, false);
  cmd->callback([opts] { run_info(*opts); });
}

}  // namespace sv
