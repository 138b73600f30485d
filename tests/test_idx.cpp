// IDX files (apps/io/idx.h) and the Fashion-MNIST loader (apps/dataset.h).
// The IDX tests write their own small files (gzip through zlib directly, so that the
// reader is not only checked against our own writer); the loader tests read the real
// data set and skip, saying why, when it is not installed.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "apps/dataset.h"
#include "apps/io/idx.h"

namespace sv::test {
namespace {

namespace fs = std::filesystem;

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("sv_idx_" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes raw bytes, gzip-compressed or not.
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes, bool gzip) const {
    const std::string p = path(name);
    if (gzip) {
      gzFile f = gzopen(p.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
      EXPECT_EQ(gzclose(f), Z_OK);
    } else {
      std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    return p;
  }

  fs::path dir_;
};

// 0 0 <dtype> <ndim>, big-endian dims, then data.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                               uint8_t dtype = 0x08) {
  std::vector<uint8_t> b{0, 0, dtype, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

// Expects an IoError whose message contains both the file's path and `what`.
template <class F>
void expect_io_error(F&& f, const std::string& file, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "expected an IoError about " << what;
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST_F(IdxTest, ReadsGzipAndPlainFiles) {
  const std::vector<uint8_t> data = ramp(3 * 4 * 5);
  for (bool gz : {true, false}) {
    const std::string p = write(gz ? "a.gz" : "a", idx_bytes({3, 4, 5}, data), gz);
    IdxArray a = read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(a.data, data);
  }
}

TEST_F(IdxTest, OneDimensionalLabels) {
  const std::vector<uint8_t> data{9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
  IdxArray a = read_idx(write("labels.gz", idx_bytes({10}, data), true));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{10}));
  EXPECT_EQ(a.data, data);
}

TEST_F(IdxTest, WriterRoundTrip) {
  const std::vector<uint8_t> data = ramp(2 * 28 * 28);
  for (bool gz : {true, false}) {
    const std::string p = path(gz ? "w.gz" : "w");
    write_idx(p, {2, 28, 28}, data, gz);
    IdxArray a = read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 28, 28}));
    EXPECT_EQ(a.data, data);
  }
  EXPECT_THROW(write_idx(path("bad"), {2, 3}, ramp(5)), ValueError);
}

TEST_F(IdxTest, MissingFile) {
  const std::string p = path("absent-images-idx3-ubyte.gz");
  expect_io_error([&] { read_idx(p); }, p, "no such file");
}

TEST_F(IdxTest, BadMagic) {
  std::vector<uint8_t> b = idx_bytes({4}, ramp(4));
  b[0] = 0x1f;
  const std::string p = write("magic.gz", b, true);
  expect_io_error([&] { read_idx(p); }, p, "bad magic");
  const std::string text = write("text", {'h', 'e', 'l', 'l', 'o', '\n'}, false);
  expect_io_error([&] { read_idx(text); }, text, "bad magic");
}

TEST_F(IdxTest, UnsupportedDtype) {
  const std::string p = write("float.gz", idx_bytes({1}, {0, 0, 0, 0}, 0x0D), true);
  expect_io_error([&] { read_idx(p); }, p, "dtype 0x0d");
}

TEST_F(IdxTest, TruncatedData) {
  std::vector<uint8_t> b = idx_bytes({10, 10}, ramp(100));
  b.resize(b.size() - 40);
  for (bool gz : {true, false}) {
    const std::string p = write(gz ? "short.gz" : "short", b, gz);
    expect_io_error([&] { read_idx(p); }, p, "truncated: header declares 100 bytes of data, file holds 60");
  }
}

TEST_F(IdxTest, TruncatedHeader) {
  const std::string tiny = write("tiny", {0, 0}, false);
  expect_io_error([&] { read_idx(tiny); }, tiny, "truncated");
  std::vector<uint8_t> b = idx_bytes({10, 10}, {});
  b.resize(9);  // magic and one and a quarter dimensions
  const std::string p = write("dims.gz", b, true);
  expect_io_error([&] { read_idx(p); }, p, "truncated in the dimension list");
}

TEST_F(IdxTest, TruncatedGzipStream) {
  // A compressed file cut in half: zlib reports the premature end.
  std::mt19937 rng(3);
  std::vector<uint8_t> data(20000);
  for (auto& v : data) v = static_cast<uint8_t>(rng());  // incompressible, so half the file is half the data
  const std::string full = write("full.gz", idx_bytes({20000}, data), true);
  std::ifstream in(full, std::ios::binary);
  std::vector<char> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string p = path("cut.gz");
  std::ofstream(p, std::ios::binary).write(gz.data(), static_cast<std::streamsize>(gz.size() / 2));
  expect_io_error([&] { read_idx(p); }, p, "truncated: header declares 20000 bytes");
}

TEST_F(IdxTest, TrailingBytes) {
  std::vector<uint8_t> b = idx_bytes({4}, ramp(4));
  b.push_back(1);
  const std::string p = write("long.gz", b, true);
  expect_io_error([&] { read_idx(p); }, p, "trailing bytes");
}

TEST_F(IdxTest, HugeHeaderIsRefusedBeforeAllocating) {
  const std::string p = write("huge.gz", idx_bytes({0xffffffffu, 0xffffffffu}, {}), true);
  expect_io_error([&] { read_idx(p); }, p, "header claims more than");
}

// Found by fuzz/fuzz_idx.cpp: a header claiming 2^31 - 2^17 elements (inside the default
// limit) followed by 3 bytes made the reader allocate and zero 2 GB before finding the data
// missing. Memory now grows with what is read; the peak RSS shows it.
TEST_F(IdxTest, ShortFileWithAHugeHeaderAllocatesOnlyWhatItReads) {
  const std::vector<uint8_t> bytes = idx_bytes({32767, 65535}, {1, 2, 3});
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  for (bool gz : {false, true}) {
    const std::string p = write(gz ? "claims.gz" : "claims", bytes, gz);
    expect_io_error([&] { read_idx(p); }, p, "truncated: header declares 2147385345 bytes of data, file holds 3");
  }
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 256 * 1024) << "peak RSS grew by this many KB";
}

TEST_F(IdxTest, LoaderChecksThatImagesAndLabelsAgree) {
  write_idx(path("train-images-idx3-ubyte.gz"), {3, 28, 28}, ramp(3 * 28 * 28));
  write_idx(path("train-labels-idx1-ubyte.gz"), {2}, {1, 2});
  expect_io_error([&] { load_fashion_mnist(dir_.string(), true); }, "train-labels-idx1-ubyte.gz", "2 labels");

  write_idx(path("train-labels-idx1-ubyte.gz"), {3}, {1, 2, 10});
  expect_io_error([&] { load_fashion_mnist(dir_.string(), true); }, "train-labels-idx1-ubyte.gz", "label 10");

  write_idx(path("t10k-images-idx3-ubyte.gz"), {2, 32, 32}, ramp(2 * 32 * 32));
  write_idx(path("t10k-labels-idx1-ubyte.gz"), {2}, {1, 2});
  expect_io_error([&] { load_fashion_mnist(dir_.string(), false); }, "t10k-images-idx3-ubyte.gz", "(N, 28, 28)");
}

TEST_F(IdxTest, LoaderNormalizesAndLimits) {
  std::vector<uint8_t> px(3 * 28 * 28, 0);
  px[0] = 255;
  write_idx(path("train-images-idx3-ubyte.gz"), {3, 28, 28}, px);
  write_idx(path("train-labels-idx1-ubyte.gz"), {3}, {4, 0, 9});
  Dataset d = load_fashion_mnist(dir_.string(), true, 2, 0.5f, 0.25f);
  ASSERT_EQ(d.images.shape(), (Shape{2, 1, 28, 28}));
  ASSERT_EQ(d.labels.shape(), (Shape{2}));
  EXPECT_FLOAT_EQ(d.images.data<float>()[0], 2.0f);   // (1 - 0.5) / 0.25
  EXPECT_FLOAT_EQ(d.images.data<float>()[1], -2.0f);  // (0 - 0.5) / 0.25
  EXPECT_EQ(d.labels.data<int32_t>()[0], 4);
  EXPECT_EQ(d.labels.data<int32_t>()[1], 0);
  EXPECT_EQ(d.classes.size(), 10u);
}

// ---- the real data set
bool have_fashion_mnist() {
  return fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz") &&
         fs::exists(fs::path(kFashionMnistDir) / "t10k-labels-idx1-ubyte.gz");
}
#define SKIP_WITHOUT_FASHION_MNIST() \
  if (!have_fashion_mnist())         \
  GTEST_SKIP() << "Fashion-MNIST is not installed in " << kFashionMnistDir << " (apt install dataset-fashion-mnist)"

TEST(FashionMnist, TrainSplit) {
  SKIP_WITHOUT_FASHION_MNIST();
  Dataset d = load_fashion_mnist(kFashionMnistDir, true);
  ASSERT_EQ(d.images.shape(), (Shape{60000, 1, 28, 28}));
  ASSERT_EQ(d.labels.shape(), (Shape{60000}));
  std::vector<int> count(10, 0);
  for (int64_t i = 0; i < d.size(); ++i) ++count.at(static_cast<size_t>(d.labels.data<int32_t>()[i]));
  for (int c : count) EXPECT_EQ(c, 6000);     // the training set is balanced
  EXPECT_EQ(d.labels.data<int32_t>()[0], 9);  // the first image is an ankle boot
  // Normalized with the training set's own statistics: mean ~0, std ~1.
  double s = 0, ss = 0;
  const float* x = d.images.data<float>();
  for (int64_t i = 0; i < d.images.numel(); ++i) {
    s += x[i];
    ss += static_cast<double>(x[i]) * x[i];
  }
  const double n = static_cast<double>(d.images.numel()), mean = s / n;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(std::sqrt(ss / n - mean * mean), 1.0, 0.01);
}

TEST(FashionMnist, TestSplitWithLimit) {
  SKIP_WITHOUT_FASHION_MNIST();
  Dataset full = load_fashion_mnist(kFashionMnistDir, false);
  ASSERT_EQ(full.size(), 10000);
  Dataset d = load_fashion_mnist(kFashionMnistDir, false, 100);
  ASSERT_EQ(d.images.shape(), (Shape{100, 1, 28, 28}));
  for (int64_t i = 0; i < 100 * 784; ++i) ASSERT_EQ(d.images.data<float>()[i], full.images.data<float>()[i]);
  EXPECT_EQ(d.classes, fashion_mnist_classes());
  EXPECT_EQ(d.classes[0], "T-shirt/top");
  EXPECT_EQ(d.classes[9], "Ankle boot");
}

}  // namespace
}  // namespace sv::test
