// libFuzzer target: image decoding and torchvision's eval transform (apps/io/image.h).
//
// Feeds: the input as the bytes of an image file (PNG, JPEG, BMP, TGA, GIF, PSD, PNM, HDR:
// whatever stb_image sniffs; the vendored decoder is part of the library, so it carries the
// sanitizers and coverage too) to decode_image, then the decoded image through preprocess
// and back through to_display_rgb for three models: the bundled 1-channel Fashion-MNIST CNN
// (resize 28, crop 28), a 3-channel one that resizes then crops (36 -> 32, as ImageNet's
// 256 -> 224 at a size that keeps inputs fast) and one whose crop is larger than the resize
// (20 -> 24: zero padding). The transform's code paths do not depend on the sizes.
// The pixel limit is 2^18 (512 x 512) instead of the CLI's 100 Mpx so that each input
// stays fast (a header alone can declare the maximum); the limit check is the same code,
// and extreme aspect ratios (the costly case of the transform) fit well under it.
// A bug is: a crash, a sanitizer report (ASan, UBSan, float-cast-overflow), a hang or an
// out-of-memory, or a transform whose output is not (C, input_size, input_size). A clean
// sv::Error on a bad file is the expected outcome.
#include <cstddef>
#include <cstdint>

#include "apps/io/image.h"
#include "autodiff/error.h"
#include "fuzz/harness.h"

namespace {

sv::ModelInfo model_info(int channels, int resize, int crop) {
  sv::ModelInfo info;
  info.in_channels = channels;
  info.resize_size = resize;
  info.input_size = crop;
  if (channels == 1) {  // ModelInfo's defaults are ImageNet's 3-channel statistics
    info.mean = {0.0f};
    info.std = {1.0f};
  }
  return info;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const sv::Image img = sv::decode_image(data, size, "fuzz-input", int64_t{1} << 18);
    for (const sv::ModelInfo& info : {model_info(1, 28, 28), model_info(3, 36, 32), model_info(3, 20, 24)}) {
      const sv::Tensor x = sv::preprocess(img, info);
      if (x.shape() != sv::Shape{info.in_channels, info.input_size, info.input_size})
        sv::fuzz::contract_broken("preprocess returned " + sv::shape_str(x.shape()));
      sv::to_display_rgb(x, info);
    }
  } catch (const sv::Error&) {
  }
  return 0;
}
