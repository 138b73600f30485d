// stb_image v2.30 compiled as this file's private implementation (STB_IMAGE_STATIC), from
// memory only (STBI_NO_STDIO). Its own warnings are silenced here and only here.
#include "apps/io/stb_decode.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STB_IMAGE_IMPLEMENTATION
#include "third_party/stb/stb_image.h"
#pragma GCC diagnostic pop

namespace sv::stb {

namespace {
std::string reason() {
  const char* why = stbi_failure_reason();
  return why ? why : "unknown error";
}
}  // namespace

void PixelsFree::operator()(unsigned char* p) const { stbi_image_free(p); }

bool probe(const unsigned char* bytes, int size, int& width, int& height, int& channels, std::string& why) {
  if (stbi_info_from_memory(bytes, size, &width, &height, &channels)) return true;
  why = reason();
  return false;
}

Pixels decode(const unsigned char* bytes, int size, int want_channels, int& width, int& height, std::string& why) {
  int stored = 0;
  Pixels p(stbi_load_from_memory(bytes, size, &width, &height, &stored, want_channels));
  if (!p) why = reason();
  return p;
}

}  // namespace sv::stb
