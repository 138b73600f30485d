// The safetensors reader/writer and the model-file loader: a round trip, the F16/BF16/F64
// conversions, and every error with a crafted bad file (written to a temporary directory).
// Each error must be an IoError that names the file, the tensor and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>

#include "weights/model.h"
#include "weights/safetensors.h"

namespace sv::test {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("sv_safetensors_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  size_t count() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(path_), fs::directory_iterator()));
  }

 private:
  fs::path path_;
};

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s;
}

// [u64 header length][header][data]
std::string craft(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <class T>
std::string bytes_of(std::initializer_list<T> v) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// fn() must throw an IoError whose message holds every one of `parts`.
template <class Fn>
void expect_io_error(Fn fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << *parts.begin();
  } catch (const IoError& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

void expect_bad_file(const TempDir& d, const std::string& bytes, std::initializer_list<std::string> parts) {
  const std::string path = d.file("bad.safetensors");
  write_bytes(path, bytes);
  std::vector<std::string> all(parts);
  all.push_back(path);
  try {
    SafetensorsReader r(path);
    r.read_all();
    ADD_FAILURE() << "no error; expected one mentioning " << *parts.begin();
  } catch (const IoError& e) {
    for (const std::string& p : all)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
  }
}

const std::string kF32x2 = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

TEST(Safetensors, RoundTrip) {
  TempDir d;
  Tensor a = Tensor::from_vector(std::vector<float>{1.5f, -2.25f, 3e-8f, 4e7f, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector(std::vector<double>{0.1, -0.2}, {2});
  Tensor scalar = Tensor::full({}, 7.0), empty = Tensor::zeros({0, 3});
  write_safetensors(d.file("t.safetensors"), {{"w.a", a}, {"b", b}, {"s", scalar}, {"e", empty}},
                    {{"arch", "x"}, {"note", "h\u00e9llo"}});
  EXPECT_EQ(d.count(), 1u) << "the temporary file was left behind";
  SafetensorsReader r(d.file("t.safetensors"));
  EXPECT_EQ(r.metadata().at("arch"), "x");
  EXPECT_EQ(r.metadata().at("note"), "h\u00e9llo");
  ASSERT_EQ(r.entries().size(), 4u);
  EXPECT_EQ(r.entries()[0].name, "w.a");  // data-area order = write order
  EXPECT_EQ(r.find("b")->dtype, StDtype::F64);
  EXPECT_EQ(r.read("w.a").to_vector(), a.to_vector());
  EXPECT_EQ(r.read("w.a").shape(), (Shape{2, 3}));
  EXPECT_EQ(r.read("b").to_vector(), (std::vector<float>{0.1f, -0.2f}));
  EXPECT_EQ(r.read("s").shape(), Shape{});
  EXPECT_EQ(r.read("s").item(), 7.0);
  EXPECT_EQ(r.read("e").shape(), (Shape{0, 3}));
  expect_io_error([&] { r.read("nope"); }, {"'nope'", "not in the file"});
  // overwriting is atomic too
  write_safetensors(d.file("t.safetensors"), {{"only", a}});
  EXPECT_EQ(SafetensorsReader(d.file("t.safetensors")).entries().size(), 1u);
  EXPECT_THROW(write_safetensors(d.file("u.safetensors"), {{"x", a}, {"x", b}}), ValueError);
  EXPECT_THROW(write_safetensors(d.file("u.safetensors"), {{"__metadata__", a}}), ValueError);
  EXPECT_EQ(d.count(), 1u);
}

TEST(Safetensors, HalfPrecisionConversions) {
  TempDir d;
  // F16: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), -0, inf, nan
  const std::string f16 = bytes_of<uint16_t>({0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x0400, 0x8000, 0x7C00, 0x7E00});
  // BF16: 1, -2, 3.140625, 2^-133 (subnormal), -inf
  const std::string bf16 = bytes_of<uint16_t>({0x3F80, 0xC000, 0x4049, 0x0001, 0xFF80});
  const std::string f64 = bytes_of<double>({1.0 / 3.0, -1e300});
  const std::string header = R"({"h":{"dtype":"F16","shape":[9],"data_offsets":[0,18]},)"
                             R"("b":{"dtype":"BF16","shape":[5],"data_offsets":[18,28]},)"
                             R"("d":{"dtype":"F64","shape":[2],"data_offsets":[28,44]}})";
  write_bytes(d.file("h.safetensors"), craft(header, f16 + bf16 + f64));
  SafetensorsReader r(d.file("h.safetensors"));
  std::vector<float> h = r.read("h").to_vector(), b = r.read("b").to_vector(), x = r.read("d").to_vector();
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 0.5f);
  EXPECT_EQ(h[3], 65504.0f);
  EXPECT_EQ(h[4], std::ldexp(1.0f, -24));
  EXPECT_EQ(h[5], std::ldexp(1.0f, -14));
  EXPECT_TRUE(h[6] == 0.0f && std::signbit(h[6]));
  EXPECT_TRUE(std::isinf(h[7]) && h[7] > 0);
  EXPECT_TRUE(std::isnan(h[8]));
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -2.0f);
  EXPECT_EQ(b[2], 3.140625f);
  EXPECT_EQ(b[3], std::ldexp(1.0f, -133));
  EXPECT_TRUE(std::isinf(b[4]) && b[4] < 0);
  EXPECT_EQ(x[0], static_cast<float>(1.0 / 3.0));
  EXPECT_TRUE(std::isinf(x[1]));  // out of float range: rounds to infinity
}

TEST(Safetensors, HeaderErrors) {
  TempDir d;
  expect_io_error([&] { SafetensorsReader r(d.file("absent.safetensors")); }, {"absent.safetensors", "no such file"});
  expect_bad_file(d, "", {"truncated"});
  expect_bad_file(d, std::string("\x10\x00\x00", 3), {"truncated", "8-byte header length"});
  expect_bad_file(d, le64(1000) + "{}", {"header length 1000 exceeds"});
  expect_bad_file(d, le64(~0ull) + "{}", {"exceeds"});
  expect_bad_file(d, craft("{\"a\": [1, 2", ""), {"not valid JSON"});
  expect_bad_file(d, craft("[1, 2]", ""), {"not a JSON object"});
  // A NUL ends nlohmann's parse early; the reference implementation rejects such headers.
  expect_bad_file(d, craft(std::string("{}\0{\"a\": 1}", 11), ""), {"NUL byte at offset 2"});
  expect_bad_file(d, craft(std::string("{}  \0 ", 6), ""), {"NUL byte at offset 4"});
  expect_bad_file(d, craft(R"({"__metadata__": {"arch": 3}})", ""), {"__metadata__", "'arch'", "not a string"});
  expect_bad_file(d, craft(R"({"__metadata__": [1]})", ""), {"__metadata__", "not a JSON object"});
  expect_bad_file(
      d,
      craft(
          R"({"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "a": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          std::string(8, '\0')),
      {"'a'", "twice"});
}

TEST(Safetensors, EntryErrors) {
  TempDir d;
  const std::string data8(8, '\0');
  expect_bad_file(d, craft(R"({"w": 5})", ""), {"tensor 'w'", "not a JSON object"});
  expect_bad_file(d, craft(R"({"w": {"shape":[2],"data_offsets":[0,8]}})", data8), {"tensor 'w'", "missing 'dtype'"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","data_offsets":[0,8]}})", data8), {"tensor 'w'", "missing 'shape'"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","shape":[2]}})", data8), {"tensor 'w'", "missing 'data_offsets'"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"I8","shape":[8],"data_offsets":[0,8]}})", data8),
                  {"tensor 'w'", "unsupported dtype 'I8'"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8),
                  {"tensor 'w'", "non-negative integer"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", data8),
                  {"tensor 'w'", "non-negative integer"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", data8),
                  {"tensor 'w'", "too many elements"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})", data8),
                  {"tensor 'w'", "too large"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","shape":[2],"data_offsets":[0]}})", data8),
                  {"tensor 'w'", "'data_offsets'", "pair"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data8),
                  {"tensor 'w'", "end before they begin"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8),
                  {"tensor 'w'", "[0, 16)", "outside the data area of 8 bytes"});
  expect_bad_file(d, craft(R"({"w": {"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
                  {"tensor 'w'", "size mismatch", "needs 12 bytes", "hold 8"});
  expect_bad_file(
      d,
      craft(
          R"({"w": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}, "v": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          data8),
      {"'v'", "'w'", "overlap"});
  expect_bad_file(d, craft(R"({"": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data8), {"empty tensor name"});
}

// Every prefix of a valid file is an error (never a crash or an out-of-bounds read).
TEST(Safetensors, EveryTruncationIsAnError) {
  TempDir d;
  const std::string good = craft(kF32x2, bytes_of<float>({1, 2}));
  write_bytes(d.file("good.safetensors"), good);
  EXPECT_EQ(SafetensorsReader(d.file("good.safetensors")).read("a").to_vector(), (std::vector<float>{1, 2}));
  for (size_t n = 0; n < good.size(); ++n) {
    write_bytes(d.file("cut.safetensors"), good.substr(0, n));
    EXPECT_THROW(SafetensorsReader(d.file("cut.safetensors")).read_all(), IoError) << n << " bytes";
  }
}

// ---- model files: a resnet18 with 2 classes (the smallest real architecture)

class ModelFileErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelInfo info;
    info.arch = "resnet18";
    info.num_classes = 2;
    Model m = make_model(info);
    for (auto& [name, p] : m.net->state()) tensors.emplace_back(name, p->value);
  }
  // Writes the tensors (with `drop` left out) and metadata; returns the path.
  std::string write(const NamedTensors& t, const StMetadata& md) {
    const std::string path = dir.file("m.safetensors");
    write_safetensors(path, t, md);
    return path;
  }
  NamedTensors without(const std::string& drop) const {
    NamedTensors out;
    for (auto& nt : tensors)
      if (nt.first != drop) out.push_back(nt);
    return out;
  }
  TempDir dir;
  NamedTensors tensors;
  StMetadata md{{"arch", "resnet18"}};
};

TEST_F(ModelFileErrors, LoadsAndInfersClassesAndChannels) {
  Model m = load_model(write(tensors, md));
  EXPECT_EQ(m.info.num_classes, 2);  // from fc.weight (2, 512)
  EXPECT_EQ(m.info.in_channels, 3);
  EXPECT_EQ(m.info.input_size, 224);
  NamedTensors t = tensors;
  t.emplace_back("bn1.num_batches_tracked", Tensor::zeros({}));  // ignored explicitly
  t[0].second = Tensor::zeros({64, 1, 7, 7});                    // conv1.weight: one input channel
  m = load_model(write(t, md));
  EXPECT_EQ(m.info.in_channels, 1);
  EXPECT_EQ(m.info.mean, std::vector<float>{0.0f});
  EXPECT_EQ(m.info.std, std::vector<float>{1.0f});
}

TEST_F(ModelFileErrors, MissingUnexpectedAndMisshapedTensors) {
  expect_io_error([&] { load_model(write(without("layer2.1.bn2.running_var"), md)); },
                  {"m.safetensors", "missing tensor 'layer2.1.bn2.running_var'", "resnet18"});
  NamedTensors t = tensors;
  t.emplace_back("layer5.0.conv1.weight", Tensor::zeros({1}));
  expect_io_error([&] { load_model(write(t, md)); }, {"m.safetensors", "unexpected tensor 'layer5.0.conv1.weight'"});
  t = tensors;
  for (auto& [name, v] : t)
    if (name == "layer3.0.conv2.weight") v = Tensor::zeros({256, 256, 3, 1});
  expect_io_error([&] { load_model(write(t, md)); },
                  {"m.safetensors", "tensor 'layer3.0.conv2.weight'", "(256, 256, 3, 1)", "expects (256, 256, 3, 3)"});
  StMetadata ten = md;
  ten["num_classes"] = "10";  // the metadata wins over the file's fc (2 classes): a shape mismatch
  expect_io_error([&] { load_model(write(tensors, ten)); }, {"tensor 'fc.weight'", "(2, 512)", "expects (10, 512)"});
}

TEST_F(ModelFileErrors, BadMetadata) {
  expect_io_error([&] { load_model(write(tensors, {})); }, {"m.safetensors", "no 'arch'"});
  expect_io_error(
      [&] {
        load_model(write(tensors, {{"arch", "resnet9"}}));
      },
      {"unknown architecture 'resnet9'", "resnet50"});
  for (auto [key, value] : std::initializer_list<std::pair<const char*, const char*>>{
           {"num_classes", "ten"}, {"in_channels", "0"}, {"input_size", "-3"}, {"resize_size", "2x"}}) {
    StMetadata bad = md;
    bad[key] = value;
    expect_io_error([&] { load_model(write(tensors, bad)); }, {"m.safetensors", key, value});
  }
  StMetadata bad = md;
  bad["mean"] = "0.5,0.5";
  expect_io_error([&] { load_model(write(tensors, bad)); }, {"'mean'", "2 values for 3 input channels"});
  bad["mean"] = "0.5,,0.5";
  expect_io_error([&] { load_model(write(tensors, bad)); }, {"'mean'", "comma-separated"});
  bad = md;
  bad["std"] = "0.5,0,1";
  expect_io_error([&] { load_model(write(tensors, bad)); }, {"'std'", "positive"});
  bad = md;
  bad["mean"] = "0.5, 0.25 ,1e-1";
  EXPECT_EQ(load_model(write(tensors, bad)).info.mean, (std::vector<float>{0.5f, 0.25f, 0.1f}));
}

// Values that would turn every feature into NaN or zero, or ask for unbounded memory, are
// refused at load time, naming the tensor or the metadata key.
TEST_F(ModelFileErrors, NonFiniteAndAbsurdValues) {
  for (auto [key, value, words] : std::initializer_list<std::tuple<const char*, const char*, const char*>>{
           {"mean", "nan,0,0", "not finite"},
           {"mean", "0,0,1e9", "not finite or above 1e3"},
           {"std", "1,inf,1", "[1e-6, 1e3]"},
           {"std", "1,1,1e-45", "[1e-6, 1e3]"},
           {"resize_size", "2147483647", "larger than 4096"},
           {"input_size", "5000", "larger than 4096"},
           {"classes", "cat,dog,bird", "names 3 classes, the model has num_classes 2"}}) {
    StMetadata bad = md;
    bad[key] = value;
    expect_io_error([&] { load_model(write(tensors, bad)); }, {"m.safetensors", key, words});
  }
  for (const char* name : {"layer1.0.conv1.weight", "fc.bias", "bn1.running_mean"})
    for (float v : {std::nanf(""), INFINITY, -INFINITY}) {
      NamedTensors t = tensors;
      for (auto& [n, x] : t)
        if (n == name) {
          x = x.clone();
          x.data<float>()[x.numel() - 1] = v;
        }
      expect_io_error([&] { load_model(write(t, md)); }, {"m.safetensors", std::string("tensor '") + name + "'", "non-finite"});
    }
  NamedTensors t = tensors;
  for (auto& [n, x] : t)
    if (n == "layer2.0.bn1.running_var") {
      x = x.clone();
      x.data<float>()[5] = -0.5f;
    }
  expect_io_error([&] { load_model(write(t, md)); },
                  {"tensor 'layer2.0.bn1.running_var'", "negative variance", "channel 5"});
}

// Found while writing fuzz/fuzz_model.cpp: the metadata sized the network before any of the
// file's tensors were looked at, so a 60-byte fmnist_cnn file with in_channels = 20000000
// made load_model allocate and zero 23 GB (85 s) before failing. in_channels and num_classes
// must now agree with the file's first and last weights before anything is allocated.
TEST_F(ModelFileErrors, MetadataCannotSizeTheNetworkBeyondTheFile) {
  StMetadata big = md;
  big["in_channels"] = "20000000";
  expect_io_error([&] { load_model(write(tensors, big)); },
                  {"m.safetensors", "tensor 'conv1.weight'", "(64, 3, 7, 7)", "in_channels 20000000 expects"});
  big = md;
  big["num_classes"] = "2000000000";
  expect_io_error([&] { load_model(write(tensors, big)); },
                  {"tensor 'fc.weight'", "(2, 512)", "expects (2000000000, 512)"});
  big["num_classes"] = "2";
  big["in_channels"] = "20000000";
  expect_io_error([&] { load_model(write({}, big)); }, {"missing tensor 'conv1.weight'", "resnet18"});
  NamedTensors flat = without("conv1.weight");
  flat.emplace_back("conv1.weight", Tensor::zeros({64}));
  expect_io_error([&] { load_model(write(flat, md)); }, {"tensor 'conv1.weight'", "(64,)", "too few dimensions"});
}

TEST_F(ModelFileErrors, NonexistentAndCorruptModelFiles) {
  expect_io_error([&] { load_model(dir.file("nothing.safetensors")); }, {"nothing.safetensors", "no such file"});
  const std::string path = write(tensors, md);
  fs::resize_file(path, fs::file_size(path) - 100);
  expect_io_error([&] { load_model(path); }, {"m.safetensors", "outside the data area"});
}

}  // namespace
}  // namespace sv::test
