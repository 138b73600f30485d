// The image decoder: stb_image v2.30, vendored in third_party/stb/ (why: its README) and
// compiled in stb_decode.cpp with every function static, so neither Debian's older libstb
// nor anything else can stand in for it. Bytes in memory only; one call decodes.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace sv::stb {

struct PixelsFree {
  void operator()(unsigned char* p) const;
};
using Pixels = std::unique_ptr<unsigned char, PixelsFree>;

// Width, height and stored channel count from the header, without decoding; false (and
// `why` set) when the format is not recognised.
bool probe(const unsigned char* bytes, int size, int& width, int& height, int& channels, std::string& why);

// Decodes to 8-bit pixels (height, width, want_channels), row-major; null (and `why` set) on
// a corrupt or unsupported file.
Pixels decode(const unsigned char* bytes, int size, int want_channels, int& width, int& height, std::string& why);

}  // namespace sv::stb
