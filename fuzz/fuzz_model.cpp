// libFuzzer target: model files (weights/model.h, load_model): the __metadata__ map
// (arch, in_channels, num_classes, input_size, resize_size, mean, std), the inference of
// channels and classes from tensor shapes, and the missing/unexpected/mis-shaped checks.
//
// Feeds: the input as a whole model file (safetensors with __metadata__) to load_model.
// The seeds name the bundled fmnist_cnn architecture with no or few tensors, so most runs
// exercise the metadata and name/shape checks; the safetensors target covers the data.
// A bug is: a crash, a sanitizer report, a hang or an out-of-memory (metadata in a small
// file must not make the loader build a network of gigabytes), or a loaded model whose
// info disagrees with its own checks (channels, mean/std sizes, positive std). A clean
// sv::Error on a bad file is the expected outcome.
#include <cstddef>
#include <cstdint>

#include "autodiff/error.h"
#include "fuzz/harness.h"
#include "weights/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sv::fuzz::InputFile file(data, size);
  try {
    const sv::Model m = sv::load_model(file.path());
    const sv::ModelInfo& i = m.info;
    if (static_cast<int>(i.mean.size()) != i.in_channels || static_cast<int>(i.std.size()) != i.in_channels)
      sv::fuzz::contract_broken("mean/std sizes disagree with in_channels");
    for (float s : i.std)
      if (!(s > 0)) sv::fuzz::contract_broken("a non-positive std was accepted");
  } catch (const sv::Error&) {
  }
  return 0;
}
