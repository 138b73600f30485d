// Image decoding (stb_image, apps/io/stb_decode.h), torchvision's evaluation transform and
// PNG output (stb_image_write).
//
// The transform reproduces torchvision's ImageClassification / Resize + CenterCrop +
// ToTensor + Normalize on a PIL image, to the bit before normalization:
// - decoded pixels are 8-bit (stb_image), converted to the model's channel count with
//   PIL's Image.convert rules (RGB -> L: (19595 R + 38470 G + 7471 B + 0x8000) >> 16);
// - Resize(resize_size): the shorter side becomes resize_size, the longer one
//   int(resize_size * long / short); resampled like PIL's ImagingResample with the
//   BILINEAR filter: a triangle filter whose support grows with the downscale factor
//   (antialiasing), coefficients in 22-bit fixed point, horizontal pass then vertical
//   pass, each rounded back to 8 bits;
// - CenterCrop(input_size): offset int(round((size - crop) / 2.0)) with Python's
//   round-half-to-even; zero padding when the crop is larger than the image. Only the
//   cropped part of the resized image is computed (the same bytes, bounded cost);
// - ToTensor (v / 255) and Normalize ((v - mean) / std) in float32.
#include "apps/io/image.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "weights/atomic_file.h"
#include "apps/io/input_file.h"
#include "apps/io/stb_decode.h"

namespace sv {

namespace {

// ---- 8-bit pixel buffers (H, W, C), the representation PIL resamples
struct Pixels8 {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> v;
  uint8_t* at(int y, int x) { return &v[(static_cast<size_t>(y) * width + x) * channels]; }
  const uint8_t* at(int y, int x) const { return &v[(static_cast<size_t>(y) * width + x) * channels]; }
};

Pixels8 quantize(const Image& img) {
  SV_CHECK(img.channels == 1 || img.channels == 3, ValueError,
           "image has " + std::to_string(img.channels) + " channels, expected 1 or 3");
  SV_CHECK(img.width > 0 && img.height > 0 &&
               img.pixels.size() == static_cast<size_t>(img.width) * img.height * img.channels,
           ValueError, "image pixel buffer does not match its size");
  Pixels8 p{img.width, img.height, img.channels, std::vector<uint8_t>(img.pixels.size())};
  for (size_t i = 0; i < p.v.size(); ++i)
    p.v[i] = static_cast<uint8_t>(std::lround(std::clamp(img.pixels[i], 0.0f, 1.0f) * 255.0f));
  return p;
}

// PIL's Image.convert between "L" and "RGB".
Pixels8 convert_channels(const Pixels8& in, int channels) {
  if (in.channels == channels) return in;
  SV_CHECK(channels == 1 || channels == 3, ValueError,
           "the model takes " + std::to_string(channels) + " input channels; images can be converted to 1 or 3");
  Pixels8 out{in.width, in.height, channels, std::vector<uint8_t>(static_cast<size_t>(in.width) * in.height * channels)};
  const size_t n = static_cast<size_t>(in.width) * in.height;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* s = &in.v[i * in.channels];
    uint8_t* d = &out.v[i * channels];
    if (channels == 3) {
      d[0] = d[1] = d[2] = s[0];
    } else {
      d[0] = static_cast<uint8_t>((s[0] * 19595 + s[1] * 38470 + s[2] * 7471 + 0x8000) >> 16);
    }
  }
  return out;
}

// ---- PIL ImagingResample, BILINEAR, 8 bits per channel (libImaging/Resample.c)
constexpr int kPrecisionBits = 32 - 8 - 2;

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// For the output positions [first, first + count) of an axis: the first input index, the
// count of inputs, and ksize fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;  // (count, ksize)
};

Coeffs precompute_coeffs(int in_size, int64_t out_size, int64_t first, int count) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // the triangle's support is 1
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(count);
  c.count.resize(count);
  c.k.assign(static_cast<size_t>(count) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int i = 0; i < count; ++i) {
    const double center = (static_cast<double>(first + i) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = triangle((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double kx = ww != 0.0 ? w[x] / ww : w[x];
      const double f = kx * (1 << kPrecisionBits);
      c.k[static_cast<size_t>(i) * c.ksize + x] = static_cast<int32_t>(kx < 0 ? -0.5 + f : 0.5 + f);
    }
    c.first[i] = xmin;
    c.count[i] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// Columns [x0, x0 + w) of the image resampled to width out_w (all rows).
Pixels8 resample_horizontal(const Pixels8& in, int64_t out_w, int64_t x0, int w) {
  const Coeffs c = precompute_coeffs(in.width, out_w, x0, w);
  Pixels8 out{w, in.height, in.channels, std::vector<uint8_t>(static_cast<size_t>(w) * in.height * in.channels)};
  for (int y = 0; y < in.height; ++y)
    for (int xx = 0; xx < w; ++xx) {
      const int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      for (int ch = 0; ch < in.channels; ++ch) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < c.count[xx]; ++x) ss += in.at(y, c.first[xx] + x)[ch] * k[x];
        out.at(y, xx)[ch] = clip8(ss);
      }
    }
  return out;
}

// Rows [y0, y0 + h) of the image resampled to height out_h (all columns).
Pixels8 resample_vertical(const Pixels8& in, int64_t out_h, int64_t y0, int h) {
  const Coeffs c = precompute_coeffs(in.height, out_h, y0, h);
  Pixels8 out{in.width, h, in.channels, std::vector<uint8_t>(static_cast<size_t>(in.width) * h * in.channels)};
  for (int yy = 0; yy < h; ++yy) {
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    for (int x = 0; x < in.width; ++x)
      for (int ch = 0; ch < in.channels; ++ch) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int y = 0; y < c.count[yy]; ++y) ss += in.at(c.first[yy] + y, x)[ch] * k[y];
        out.at(yy, x)[ch] = clip8(ss);
      }
  }
  return out;
}

// The sub-image [x0, x0 + w) x [y0, y0 + h) (inside the image).
Pixels8 cut(const Pixels8& in, int x0, int y0, int w, int h) {
  Pixels8 out{w, h, in.channels, std::vector<uint8_t>(static_cast<size_t>(w) * h * in.channels)};
  for (int y = 0; y < h; ++y) std::memcpy(out.at(y, 0), in.at(y0 + y, x0), static_cast<size_t>(w) * in.channels);
  return out;
}

// A window [x0, x0 + w) x [y0, y0 + h) of the resized image.
struct Window {
  int64_t x0 = 0, y0 = 0;
  int w = 0, h = 0;
};

// PIL's Image.resize((out_w, out_h), BILINEAR) -- horizontal pass first, each pass only
// when needed -- computed only inside `win`. Every output pixel depends on its own
// coefficients only, so these are the bytes of resizing everything and then cropping, in
// time and memory bounded by the input and the window whatever the aspect ratio (a 2545 x 3
// image whose shorter side goes to 256 is 217173 x 256; the crop needs 224 x 224 of it).
Pixels8 resize_window(const Pixels8& in, int64_t out_w, int64_t out_h, const Window& win) {
  Pixels8 t = out_w != in.width ? resample_horizontal(in, out_w, win.x0, win.w)
                                : cut(in, static_cast<int>(win.x0), 0, win.w, in.height);
  return out_h != in.height ? resample_vertical(t, out_h, win.y0, win.h)
                            : cut(t, 0, static_cast<int>(win.y0), t.width, win.h);
}

// torchvision's Resize(size) with an int size: the shorter side becomes size, the longer
// int(size * long / short). The resized image must stay within kMaxResizedPixels (an
// extreme aspect ratio, such as a 1 x 10^6 strip): ValueError naming the sizes. Only the
// crop of it is computed (resize_window), so this limit is a rule on inputs; it is not
// what bounds the transform's memory and time.
constexpr int64_t kMaxResizedPixels = int64_t{1} << 26;
void resized_size(int w, int h, int size, int64_t& out_w, int64_t& out_h) {
  const bool w_short = w <= h;
  const int64_t shrt = w_short ? w : h, lng = w_short ? h : w;
  const double new_long = static_cast<double>(int64_t{size} * lng) / static_cast<double>(shrt);
  SV_CHECK(new_long * size <= static_cast<double>(kMaxResizedPixels), ValueError,
           "a " + std::to_string(w) + "x" + std::to_string(h) + " image resized to " + std::to_string(size) +
               " on its shorter side would be " + std::to_string(static_cast<int64_t>(new_long)) + " pixels long, over " +
               std::to_string(kMaxResizedPixels) + " pixels in all (aspect ratio too extreme)");
  out_w = w_short ? size : static_cast<int64_t>(new_long);
  out_h = w_short ? static_cast<int64_t>(new_long) : size;
}

// torchvision's center_crop offset (Python round: half to even) for one axis; negative
// when the crop is larger than the image (zero padding).
int64_t crop_offset(int64_t size, int64_t crop) {
  if (size >= crop) return static_cast<int64_t>(std::nearbyint(static_cast<double>(size - crop) / 2.0));
  return -((crop - size) / 2);  // torchvision pads (crop - size) // 2 before
}

}  // namespace

Image read_image(const std::string& path, int64_t max_pixels) {
  check_input_file(path);
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  SV_CHECK(f != nullptr, IoError, path + ": cannot open image: " + std::strerror(errno));
  std::vector<unsigned char> bytes;
  unsigned char chunk[1 << 16];
  size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
  SV_CHECK(!std::ferror(f.get()), IoError, path + ": cannot read image: " + std::strerror(errno));
  return decode_image(bytes.data(), bytes.size(), path, max_pixels);
}

Image decode_image(const unsigned char* bytes, size_t size, const std::string& name, int64_t max_pixels) {
  SV_CHECK(size <= static_cast<size_t>(std::numeric_limits<int>::max()), IoError,
           name + ": image file of " + std::to_string(size) + " bytes is too large to decode");
  const int len = static_cast<int>(size);
  int w = 0, h = 0, comp = 0;
  std::string why;
  if (!stb::probe(bytes, len, w, h, comp, why))
    throw IoError(name + ": cannot decode image (PNG, JPEG, BMP, TGA, GIF, PSD, PNM, HDR expected): " + why);
  const int64_t pixels = int64_t{w} * h;
  SV_CHECK(pixels <= max_pixels, IoError,
           name + ": image is " + std::to_string(w) + "x" + std::to_string(h) + " = " + std::to_string(pixels) +
               " pixels, over the limit of " + std::to_string(max_pixels));
  const int want = comp <= 2 ? 1 : 3;  // gray (+alpha) -> 1 channel, color (+alpha) -> RGB
  const stb::Pixels data = stb::decode(bytes, len, want, w, h, why);
  if (!data) throw IoError(name + ": cannot decode image: " + why);
  Image img{w, h, want, std::vector<float>(static_cast<size_t>(w) * h * want)};
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = data.get()[i] / 255.0f;
  return img;
}

Tensor preprocess(const Image& img, const ModelInfo& info) {
  const int C = info.in_channels;
  SV_CHECK(static_cast<int>(info.mean.size()) == C && static_cast<int>(info.std.size()) == C, ValueError,
           "model metadata: mean and std need " + std::to_string(C) + " values (one per input channel)");
  SV_CHECK(info.resize_size > 0 && info.input_size > 0, ValueError, "model metadata: resize_size and input_size must be positive");
  const Pixels8 p = convert_channels(quantize(img), C);
  int64_t rw, rh;
  resized_size(p.width, p.height, info.resize_size, rw, rh);

  // The crop's offsets in the resized image (negative: zero padding), and the part of the
  // resized image inside the crop: the only part computed.
  const int S = info.input_size;
  const int64_t top = crop_offset(rh, S), left = crop_offset(rw, S);
  Window win;
  win.x0 = std::max<int64_t>(left, 0);
  win.y0 = std::max<int64_t>(top, 0);
  win.w = static_cast<int>(std::min<int64_t>(left + S, rw) - win.x0);
  win.h = static_cast<int>(std::min<int64_t>(top + S, rh) - win.y0);
  const Pixels8 r = resize_window(p, rw, rh, win);

  Tensor out = Tensor::empty({C, S, S});
  float* o = out.data<float>();
  for (int c = 0; c < C; ++c) {
    const float mean = info.mean[c], stdv = info.std[c];
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const int64_t sy = top + y - win.y0, sx = left + x - win.x0;  // in r
        const bool inside = sy >= 0 && sy < r.height && sx >= 0 && sx < r.width;
        const uint8_t byte = inside ? r.at(static_cast<int>(sy), static_cast<int>(sx))[c] : 0;
        const float v = static_cast<float>(byte) / 255.0f;
        o[(static_cast<size_t>(c) * S + y) * S + x] = (v - mean) / stdv;
      }
  }
  return out;
}

std::vector<uint8_t> to_display_rgb(const Tensor& x, const ModelInfo& info) {
  SV_CHECK(x.ndim() == 3, ShapeError, "to_display_rgb: expected (C, H, W), got " + shape_str(x.shape()));
  SV_CHECK(x.is_cpu(), ValueError, "to_display_rgb: tensor must be on the host");
  const int64_t C = x.dim(0), H = x.dim(1), W = x.dim(2);
  SV_CHECK(C == 1 || C == 3, ShapeError, "to_display_rgb: expected 1 or 3 channels, got " + std::to_string(C));
  SV_CHECK(static_cast<int64_t>(info.mean.size()) == C && static_cast<int64_t>(info.std.size()) == C, ValueError,
           "to_display_rgb: mean/std have " + std::to_string(info.mean.size()) + " values for " + std::to_string(C) +
               " channels");
  const std::vector<float> v = x.to_vector();
  std::vector<uint8_t> rgb(static_cast<size_t>(H * W * 3));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t xx = 0; xx < W; ++xx)
      for (int64_t o = 0; o < 3; ++o) {
        const int64_t c = C == 1 ? 0 : o;
        const double val = v[(c * H + y) * W + xx] * info.std[c] + info.mean[c];
        rgb[(y * W + xx) * 3 + o] = static_cast<uint8_t>(std::lround(std::clamp(val, 0.0, 1.0) * 255.0));
      }
  return rgb;
}

Tensor load_images(const std::vector<std::string>& paths, const ModelInfo& info) {
  SV_CHECK(!paths.empty(), ValueError, "load_images: no image paths");
  const int S = info.input_size;
  Tensor batch = Tensor::empty({static_cast<int64_t>(paths.size()), info.in_channels, S, S});
  const size_t per = static_cast<size_t>(info.in_channels) * S * S;
  for (size_t i = 0; i < paths.size(); ++i) {
    const Image img = read_image(paths[i]);
    Tensor t;
    try {
      t = preprocess(img, info);
    } catch (const ValueError& e) {
      throw IoError(paths[i] + ": " + e.what());
    }
    std::memcpy(batch.data<float>() + i * per, t.data<float>(), per * sizeof(float));
  }
  return batch;
}

void write_png(const std::string& path, const std::vector<uint8_t>& rgb, int width, int height) {
  SV_CHECK(width > 0 && height > 0 && rgb.size() == static_cast<size_t>(width) * height * 3, ValueError,
           "write_png " + path + ": " + std::to_string(rgb.size()) + " bytes for a " + std::to_string(width) + "x" +
               std::to_string(height) + " RGB image");
  std::vector<unsigned char> bytes;
  auto sink = [](void* ctx, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(ctx);
    const auto* p = static_cast<const unsigned char*>(data);
    out->insert(out->end(), p, p + size);
  };
  SV_CHECK(stbi_write_png_to_func(sink, &bytes, width, height, 3, rgb.data(), width * 3) != 0, IoError,
           path + ": PNG encoding failed");
  write_file_atomic(path, {{bytes.data(), bytes.size()}});
}

}  // namespace sv
