// NPY reader/writer: round trips, NumPy-written files, and every header error.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>

#include "apps/io/npy.h"

namespace sv {
namespace {

namespace fs = std::filesystem;

class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sv_npy_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A file with the given version, header text (padded here unless raw) and data bytes.
  std::string write_raw(const std::string& name, int major, const std::string& dict, size_t data_bytes,
                        const std::string& magic = "\x93NUMPY", int minor = 0) {
    std::string header = dict;
    const size_t pre = major == 1 ? 10 : 12;
    while ((pre + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::string bytes = magic;
    bytes += static_cast<char>(major);
    bytes += static_cast<char>(minor);
    for (size_t i = 0; i < pre - 8; ++i) bytes += static_cast<char>((header.size() >> (8 * i)) & 0xff);
    bytes += header;
    bytes.append(data_bytes, '\0');
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }

  // Reads `p` expecting an IoError whose message contains the file name and `what`.
  static void expect_error(const std::string& p, const std::string& what) {
    try {
      read_npy(p);
      ADD_FAILURE() << "no error for " << p << " (expected '" << what << "')";
    } catch (const IoError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << "message '" << msg << "' lacks '" << what << "'";
    }
  }

  fs::path dir_;
};

TEST_F(NpyTest, RoundTripShapes) {
  for (const Shape& s : {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 3, 4, 5}, Shape{0, 3}, Shape{1, 1, 1, 1, 7}}) {
    Tensor t = Tensor::empty(s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.25f * static_cast<float>(i) - 3.0f;
    write_npy(path("a.npy"), t);
    Tensor r = read_npy(path("a.npy"));
    ASSERT_EQ(r.shape(), s);
    ASSERT_EQ(r.dtype(), DType::F32);
    for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(r.data<float>()[i], t.data<float>()[i]);
    // The data starts on a 64-byte boundary, as NumPy writes it.
    EXPECT_EQ((fs::file_size(path("a.npy")) - t.nbytes()) % 64, 0u);
  }
}

// map_npy gives read_npy's values with the file mapped; writing the tensor leaves the file
// as it was; float64 is read instead; a header that does not fit the file is the same error.
TEST_F(NpyTest, MapGivesTheValuesOfRead) {
  Tensor t = Tensor::empty({3, 5});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.5f * static_cast<float>(i) - 2.0f;
  write_npy(path("m.npy"), t);
  Tensor m = map_npy(path("m.npy"));
  ASSERT_EQ(m.shape(), t.shape());
  EXPECT_EQ(std::memcmp(m.raw(), t.raw(), t.nbytes()), 0);
  m.data<float>()[0] = 99.0f;  // copy-on-write
  EXPECT_EQ(read_npy(path("m.npy")).data<float>()[0], -2.0f);
  std::string p = write_raw("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
  EXPECT_EQ(map_npy(p).dtype(), DType::F32);
  EXPECT_THROW(map_npy(write_raw("bad.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (9,), }", 12)),
               IoError);
}

// read_npy_rows reads rows of the first dimension alone: bitwise those of read_npy, float64
// converted; rows outside the array and a scalar are errors naming the file.
TEST_F(NpyTest, RowsAreThoseOfTheWholeArray) {
  Tensor t = Tensor::empty({4, 2, 3});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.25f * static_cast<float>(i) - 1.0f;
  write_npy(path("r.npy"), t);
  using Rows = std::pair<int64_t, int64_t>;
  for (auto [a, b] : {Rows{0, 4}, Rows{1, 2}, Rows{3, 4}, Rows{2, 2}}) {
    const Tensor r = read_npy_rows(path("r.npy"), a, b);
    ASSERT_EQ(r.shape(), (Shape{b - a, 2, 3}));
    EXPECT_EQ(std::memcmp(r.raw(), t.slice0(a, b).raw(), r.nbytes()), 0) << a << ".." << b;
  }
  std::string f8 = write_raw("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24);
  EXPECT_EQ(read_npy_rows(f8, 1, 3).dtype(), DType::F32);
  for (auto [a, b] : {Rows{3, 5}, Rows{-1, 1}, Rows{2, 1}}) {
    try {
      read_npy_rows(path("r.npy"), a, b);
      ADD_FAILURE() << a << ".." << b;
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("r.npy: rows"), std::string::npos) << e.what();
    }
  }
  write_npy(path("s.npy"), Tensor::from_vector(std::vector<float>{1.0f}, {}));
  EXPECT_THROW(read_npy_rows(path("s.npy"), 0, 1), IoError);
}

TEST_F(NpyTest, WritesFloat64AsFloat32) {
  Tensor t = Tensor::from_vector(std::vector<double>{1.5, -2.25, 1e-3}, {3});
  write_npy(path("d.npy"), t);
  Tensor r = read_npy(path("d.npy"));
  EXPECT_EQ(r.dtype(), DType::F32);
  EXPECT_FLOAT_EQ(r.data<float>()[2], 1e-3f);
}

TEST_F(NpyTest, ReadsFloat64AndVersions2And3) {
  std::string p = write_raw("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-16, std::ios::end);
    const double v[2] = {0.5, -7.0};
    f.write(reinterpret_cast<const char*>(v), 16);
  }
  Tensor r = read_npy(p);
  EXPECT_EQ(r.dtype(), DType::F32);
  EXPECT_EQ(r.data<float>()[0], 0.5f);
  EXPECT_EQ(r.data<float>()[1], -7.0f);
  for (int major : {2, 3}) {
    Tensor t =
        read_npy(write_raw("v.npy", major, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3, 1)}", 12));
    EXPECT_EQ(t.shape(), (Shape{3, 1}));
  }
}

TEST_F(NpyTest, ReadsWhatNumPyWrites) {
  // Written by NumPy 1.24 (np.save of np.arange(6, dtype='<f4').reshape(2, 3)).
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  Tensor t = read_npy(write_raw("np.npy", 1, header, 24));
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
}

TEST_F(NpyTest, HeaderErrors) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  expect_error(path("missing.npy"), "cannot open");
  std::filesystem::create_directories(path("folder.npy"));
  expect_error(path("folder.npy"), "is a directory, not a file");
  std::ofstream(path("short.npy"), std::ios::binary) << "\x93NUM";
  expect_error(path("short.npy"), "too short");
  expect_error(write_raw("magic.npy", 1, ok, 8, "\x93NUMPZ"), "bad magic");
  expect_error(write_raw("ver.npy", 4, ok, 8), "unsupported version 4.0");
  expect_error(write_raw("minor.npy", 1, ok, 8, "\x93NUMPY", 1), "unsupported version 1.1");
  expect_error(write_raw("dict.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 8), "expected '}'");
  expect_error(write_raw("nokey.npy", 1, "{'descr': '<f4', 'shape': (2,), }", 8), "no 'fortran_order'");
  expect_error(write_raw("extra.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 'y'}", 8),
               "keys other than");
  expect_error(write_raw("i4.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 8),
               "dtype '<i4' is not supported");
  expect_error(write_raw("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8),
               "dtype '>f4' is not supported");
  expect_error(write_raw("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8),
               "fortran_order is True");
  expect_error(write_raw("shape.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", 8),
               "unsupported value");
  expect_error(write_raw("neg.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8),
               "non-negative integers");
  expect_error(write_raw("trunc.npy", 1, ok, 7), "needs 8 data bytes, the file has 7");
  expect_error(write_raw("long.npy", 1, ok, 9), "needs 8 data bytes, the file has 9");
  {
    // Header length pointing past the end of the file.
    std::string bytes = "\x93NUMPY";
    bytes += '\x01';
    bytes += '\0';
    bytes += '\xff';
    bytes += '\x7f';
    bytes += "{}";
    std::ofstream(path("hlen.npy"), std::ios::binary) << bytes;
    expect_error(path("hlen.npy"), "runs past the end of the file");
  }
}

TEST_F(NpyTest, WriteIsAtomic) {
  Tensor t = Tensor::full({4, 4}, 2.0);
  write_npy(path("a.npy"), t);
  write_npy(path("a.npy"), Tensor::full({2}, 1.0));  // replaces the old file
  EXPECT_EQ(read_npy(path("a.npy")).shape(), (Shape{2}));
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u) << "a temporary file was left behind";
  EXPECT_THROW(write_npy(path("no/such/dir/a.npy"), t), IoError);
  EXPECT_FALSE(fs::exists(path("no")));
}

}  // namespace
}  // namespace sv
