// Image decoding (PNG, JPEG, BMP, TGA written here with stb_image_write), errors, the
// eval transform against torchvision + PIL (fixtures from tests/make_primitive_fixtures.py)
// and PNG output.
#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "apps/io/image.h"
#include "apps/io/npy.h"

namespace sv {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(SHAREDVIS_SOURCE_DIR) + "/tests/fixtures/primitives/";

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sv_image_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// A smooth (JPEG-friendly) pattern, (H, W, C) bytes.
std::vector<uint8_t> pattern(int w, int h, int c) {
  std::vector<uint8_t> v(static_cast<size_t>(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        v[(static_cast<size_t>(y) * w + x) * c + k] = static_cast<uint8_t>((x * 4 + y * 2 + k * 60) % 256);
  return v;
}

double mean_abs_diff(const Image& img, const std::vector<uint8_t>& ref) {
  double s = 0;
  for (size_t i = 0; i < ref.size(); ++i) s += std::abs(std::lround(img.pixels[i] * 255.0f) - ref[i]);
  return s / static_cast<double>(ref.size());
}

TEST_F(ImageTest, DecodesPngJpegBmpTga) {
  const int w = 37, h = 21;
  const std::vector<uint8_t> px = pattern(w, h, 3);
  ASSERT_TRUE(stbi_write_png(path("a.png").c_str(), w, h, 3, px.data(), w * 3));
  ASSERT_TRUE(stbi_write_jpg(path("a.jpg").c_str(), w, h, 3, px.data(), 95));
  ASSERT_TRUE(stbi_write_bmp(path("a.bmp").c_str(), w, h, 3, px.data()));
  ASSERT_TRUE(stbi_write_tga(path("a.tga").c_str(), w, h, 3, px.data()));
  for (const char* name : {"a.png", "a.bmp", "a.tga", "a.jpg"}) {
    Image img = read_image(path(name));
    EXPECT_EQ(img.width, w) << name;
    EXPECT_EQ(img.height, h) << name;
    EXPECT_EQ(img.channels, 3) << name;
    const bool lossy = std::string(name) == "a.jpg";
    EXPECT_LE(mean_abs_diff(img, px), lossy ? 4.0 : 0.0) << name;
  }
}

TEST_F(ImageTest, GrayStaysGrayAlphaIsDropped) {
  const std::vector<uint8_t> g = pattern(8, 5, 1), rgba = pattern(8, 5, 4);
  ASSERT_TRUE(stbi_write_png(path("g.png").c_str(), 8, 5, 1, g.data(), 8));
  ASSERT_TRUE(stbi_write_png(path("rgba.png").c_str(), 8, 5, 4, rgba.data(), 8 * 4));
  Image gi = read_image(path("g.png"));
  EXPECT_EQ(gi.channels, 1);
  EXPECT_EQ(mean_abs_diff(gi, g), 0.0);
  Image ci = read_image(path("rgba.png"));
  EXPECT_EQ(ci.channels, 3);
  for (size_t i = 0; i < 40; ++i)
    for (int k = 0; k < 3; ++k) EXPECT_EQ(std::lround(ci.pixels[i * 3 + k] * 255), rgba[i * 4 + k]);
}

TEST_F(ImageTest, Errors) {
  auto expect_io = [](const std::function<void()>& f, const std::string& p, const std::string& what) {
    try {
      f();
      ADD_FAILURE() << "no error (expected '" << what << "')";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_io([&] { read_image(path("missing.png")); }, path("missing.png"), "cannot open");
  std::ofstream(path("junk.png"), std::ios::binary) << "this is not an image at all";
  expect_io([&] { read_image(path("junk.png")); }, path("junk.png"), "cannot decode");
  const std::vector<uint8_t> px = pattern(20, 10, 3);
  ASSERT_TRUE(stbi_write_png(path("big.png").c_str(), 20, 10, 3, px.data(), 60));
  expect_io([&] { read_image(path("big.png"), 199); }, path("big.png"), "200 pixels, over the limit of 199");
  EXPECT_NO_THROW(read_image(path("big.png"), 200));
}

// torchvision + PIL parity. The resampling reproduces PIL's 8-bit fixed-point arithmetic,
// so the pixels agree exactly; the tolerance only covers float32 normalization (1e-5).
void expect_transform(const std::string& image, const std::string& expected, int channels, int resize, int crop,
                      std::vector<float> mean, std::vector<float> stdv) {
  ModelInfo info;
  info.in_channels = channels;
  info.resize_size = resize;
  info.input_size = crop;
  info.mean = std::move(mean);
  info.std = std::move(stdv);
  Tensor got = preprocess(read_image(kFixtures + image), info);
  Tensor want = read_npy(kFixtures + expected);
  ASSERT_EQ(got.shape(), want.shape()) << expected;
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i) worst = std::max(worst, std::abs(got.item(i) - want.item(i)));
  EXPECT_LE(worst, 1e-5) << expected;
}

TEST(ImageTransform, MatchesTorchvisionDownscale) {
  expect_transform("image_rgb.png", "image_rgb_r48_c40.npy", 3, 48, 40, {0.485f, 0.456f, 0.406f},
                   {0.229f, 0.224f, 0.225f});
}

TEST(ImageTransform, MatchesTorchvisionGrayscale) {
  expect_transform("image_rgb.png", "image_gray_r33_c31.npy", 1, 33, 31, {0.5f}, {0.25f});
}

TEST(ImageTransform, MatchesTorchvisionUpscaleAndHalfPixelCrop) {
  expect_transform("image_small.png", "image_small_r40_c37.npy", 3, 40, 37, {0.485f, 0.456f, 0.406f},
                   {0.229f, 0.224f, 0.225f});
}

TEST_F(ImageTest, DisplayInvertsTheTransformAndPngRoundTrips) {
  // An image already at the model's size: preprocess is only ToTensor + Normalize.
  const int s = 16;
  const std::vector<uint8_t> px = pattern(s, s, 3);
  ASSERT_TRUE(stbi_write_png(path("in.png").c_str(), s, s, 3, px.data(), s * 3));
  ModelInfo info;
  info.resize_size = info.input_size = s;
  Tensor x = preprocess(read_image(path("in.png")), info);
  EXPECT_EQ(to_display_rgb(x, info), px);

  write_png(path("out.png"), px, s, s);
  Image back = read_image(path("out.png"));
  EXPECT_EQ(mean_abs_diff(back, px), 0.0);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 2u) << "a temporary file was left behind";
  EXPECT_THROW(write_png(path("out.png"), px, s + 1, s), ValueError);
  EXPECT_THROW(write_png(path("nodir/out.png"), px, s, s), IoError);

  Tensor batch = load_images({path("in.png"), path("out.png")}, info);
  EXPECT_EQ(batch.shape(), (Shape{2, 3, s, s}));
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(batch.data<float>()[x.numel() + i], x.data<float>()[i]);
}

TEST(ImageTransform, GrayModelFromColorAndColorModelFromGray) {
  Image rgb{2, 1, 3, {1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f}};
  ModelInfo gray;
  gray.in_channels = 1;
  gray.resize_size = 1;
  gray.input_size = 1;
  gray.mean = {0.0f};
  gray.std = {1.0f};
  // The 2x1 image keeps its size (shorter side 1) and the crop takes pixel 0, round(0.5) = 0:
  // red, whose PIL luminance is (19595 * 255 + 0x8000) >> 16 = 76.
  Tensor g = preprocess(rgb, gray);
  ASSERT_EQ(g.shape(), (Shape{1, 1, 1}));
  EXPECT_FLOAT_EQ(g.data<float>()[0], 76.0f / 255.0f);
  Image one{1, 1, 1, {0.5f}};
  ModelInfo color;
  color.resize_size = color.input_size = 1;
  color.mean = {0, 0, 0};
  color.std = {1, 1, 1};
  Tensor c = preprocess(one, color);
  ASSERT_EQ(c.shape(), (Shape{3, 1, 1}));
  for (int k = 0; k < 3; ++k) EXPECT_FLOAT_EQ(c.data<float>()[k], 128.0f / 255.0f);
}

// Found by fuzz/fuzz_image.cpp: a 2545 x 3 image (there a 14-byte PPM header whose missing
// pixels stb_image v2.27 filled in) resized to a shorter side of 256 is 217173 x 256 pixels,
// within the 2^26-pixel limit on resizes, and the transform computed all of them before
// cropping 224 x 224 (13 s under the sanitizers). Only the cropped window is computed now.
TEST(ImageTransform, ExtremeAspectRatiosComputeOnlyTheCrop) {
  std::string ppm = "P6\n2545 3\n255\n";
  ppm.append(2545 * 3 * 3, '\x40');
  const Image img = decode_image(reinterpret_cast<const unsigned char*>(ppm.data()), ppm.size(), "wide.ppm");
  ASSERT_EQ(img.width, 2545);
  ASSERT_EQ(img.height, 3);
  ModelInfo imagenet;  // 3 channels, 256 -> 224
  EXPECT_EQ(preprocess(img, imagenet).shape(), (Shape{3, 224, 224}));

  // 1 x 1000 and 1000 x 1 of one gray level (256 x 256000 when resized): every crop pixel
  // is that level.
  for (const auto& [w, h] : {std::pair{1, 1000}, std::pair{1000, 1}}) {
    const Image flat{w, h, 1, std::vector<float>(1000, 0.5f)};
    ModelInfo gray;
    gray.in_channels = 1;
    gray.mean = {0.0f};
    gray.std = {1.0f};
    const Tensor x = preprocess(flat, gray);
    ASSERT_EQ(x.shape(), (Shape{1, 224, 224}));
    for (int64_t i = 0; i < x.numel(); ++i)
      ASSERT_EQ(x.data<float>()[i], 128.0f / 255.0f) << w << "x" << h << " at " << i;
  }
}

// Found by fuzz/fuzz_image.cpp in Debian 12's stb_image v2.27: a JPEG whose Huffman table
// declares more than 256 codes (0xA6 + 0xFF here; the file ends before the rest) made
// stbi__build_huffman write past its arrays. The vendored v2.30 rejects it; under the
// sanitizer build (.ci/sanitize_and_fuzz.sh) the old decoder aborts this test.
TEST(ImageDecode, JpegHuffmanTableOverflowIsAnError) {
  const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xC4, 0x16, 0x19, 0x11, 0xA6, 0xFF};
  EXPECT_THROW(decode_image(jpeg, sizeof jpeg, "fuzz-crash.jpg"), IoError);
  // every one of the 16 code lengths at 255 codes, for the last AC table
  std::vector<unsigned char> worst = {0xFF, 0xD8, 0xFF, 0xC4, 0x01, 0x13, 0x13};
  worst.insert(worst.end(), 16, 0xFF);
  EXPECT_THROW(decode_image(worst.data(), worst.size(), "fuzz-crash.jpg"), IoError);
}

// Found by fuzz/fuzz_image.cpp in the vendored stb_image v2.30: a PNG whose first IDAT chunk
// is empty (legal) made the decoder memcpy 0 bytes to a null buffer, which UBSan reports
// (third_party/stb/README.md has the patch). The image must decode, and to its pixels.
TEST(ImageDecode, EmptyIdatChunkDecodes) {
  const std::vector<uint8_t> px = pattern(3, 2, 3);
  std::vector<unsigned char> png;
  auto sink = [](void* ctx, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(ctx);
    out->insert(out->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
  };
  ASSERT_TRUE(stbi_write_png_to_func(sink, &png, 3, 2, 3, px.data(), 9));
  const unsigned char idat[] = {'I', 'D', 'A', 'T'};
  const uLong crc = crc32(0, idat, 4);
  std::vector<unsigned char> empty = {0, 0, 0, 0, 'I', 'D', 'A', 'T'};
  for (int s = 24; s >= 0; s -= 8) empty.push_back(static_cast<unsigned char>(crc >> s));
  const size_t at = 8 + 25;  // after the signature and the IHDR chunk
  ASSERT_EQ(std::string(png.begin() + at + 4, png.begin() + at + 8), "IDAT");
  png.insert(png.begin() + at, empty.begin(), empty.end());
  const Image img = decode_image(png.data(), png.size(), "empty-idat.png");
  ASSERT_EQ(img.width, 3);
  ASSERT_EQ(img.height, 2);
  EXPECT_EQ(mean_abs_diff(img, px), 0.0);
}

}  // namespace
}  // namespace sv
