// Image files in and out (stb_image / stb_image_write) and torchvision's evaluation
// transform. Every failure is an IoError naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/tensor.h"
#include "weights/model.h"

namespace sv {

// Decoded pixels, row-major (H, W, C), values in [0, 1]. channels is 1 or 3.
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<float> pixels;
};

// PNG, JPEG, BMP, TGA (and what else stb_image reads). Refuses images over max_pixels.
Image read_image(const std::string& path, int64_t max_pixels = 100'000'000);
// The same decoding from bytes already in memory; `name` stands for the file in messages
// (read_image reads the file, then calls this; the fuzz target calls it directly).
Image decode_image(const unsigned char* bytes, size_t size, const std::string& name,
                   int64_t max_pixels = 100'000'000);

// torchvision eval transform: resize the shorter side to info.resize_size (antialiased
// bilinear), center-crop info.input_size, to info.in_channels (gray <-> RGB), normalize
// with info.mean/std. Returns (C, input_size, input_size).
Tensor preprocess(const Image& img, const ModelInfo& info);
// Inverse of the normalization and crop for display: the model-input tensor x (C,H,W)
// back to an 8-bit RGB picture (H, W, 3).
std::vector<uint8_t> to_display_rgb(const Tensor& x, const ModelInfo& info);

// Reads and preprocesses every path into one batch (N, C, H, W).
Tensor load_images(const std::vector<std::string>& paths, const ModelInfo& info);

// Writes 8-bit RGB (H, W, 3) pixels as PNG, atomically (temporary name, then rename).
void write_png(const std::string& path, const std::vector<uint8_t>& rgb, int width, int height);

}  // namespace sv
