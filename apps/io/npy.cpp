// NPY reader and writer (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
//
// Layout: magic "\x93NUMPY", major and minor version bytes, header length (uint16 LE for
// version 1.x, uint32 LE for 2.x and 3.x), an ASCII (3.x: UTF-8) Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a final '\n' so the data starts on a 64-byte boundary, then the
// raw data. The reader trusts nothing: every field is checked and the data size must be
// exactly what the shape says.
#include "apps/io/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "weights/atomic_file.h"
#include "apps/io/input_file.h"

namespace sv {

namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IoError(path + ": not a valid .npy file: " + what);
}

// A value of the header dict: a string, a bool, or a tuple of integers.
struct HeaderValue {
  enum Kind { Str, Bool, Tuple } kind = Str;
  std::string str;
  bool b = false;
  std::vector<int64_t> tuple;
};

// Parser for the restricted Python literal NumPy writes (and hand-written variants of it).
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  std::map<std::string, HeaderValue> parse_dict() {
    std::map<std::string, HeaderValue> d;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      std::string key = parse_string();
      expect(':');
      SV_CHECK(!d.count(key), IoError, "header repeats key '" + key + "'");
      d[key] = parse_value();
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      break;
    }
    skip_ws();
    if (i_ != s_.size()) fail(path_, "unexpected text after the header dict");
    return d;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(path_, std::string("header: expected '") + c + "' at offset " + std::to_string(i_));
    ++i_;
  }
  std::string parse_string() {
    skip_ws();
    char q = peek();
    if (q != '\'' && q != '"') fail(path_, "header: expected a quoted key or string at offset " + std::to_string(i_));
    size_t end = s_.find(q, i_ + 1);
    if (end == std::string::npos) fail(path_, "header: unterminated string");
    std::string out = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return out;
  }
  int64_t parse_int() {
    skip_ws();
    size_t start = i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ == start) fail(path_, "header: shape entries must be non-negative integers");
    if (i_ - start > 15) fail(path_, "header: shape entry too large");
    int64_t v = std::stoll(s_.substr(start, i_ - start));
    if (peek() == 'L') ++i_;  // Python 2 longs
    return v;
  }
  HeaderValue parse_value() {
    skip_ws();
    HeaderValue v;
    char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = HeaderValue::Str;
      v.str = parse_string();
    } else if (s_.compare(i_, 4, "True") == 0) {
      v.kind = HeaderValue::Bool;
      v.b = true;
      i_ += 4;
    } else if (s_.compare(i_, 5, "False") == 0) {
      v.kind = HeaderValue::Bool;
      i_ += 5;
    } else if (c == '(') {
      v.kind = HeaderValue::Tuple;
      ++i_;
      while (true) {
        skip_ws();
        if (peek() == ')') {
          ++i_;
          break;
        }
        v.tuple.push_back(parse_int());
        skip_ws();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(')');
        break;
      }
    } else {
      fail(path_, "header: unsupported value at offset " + std::to_string(i_));
    }
    return v;
  }

  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

uint32_t read_le(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool host_is_little_endian() {
  const uint16_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

}  // namespace

namespace {

// Where an NPY file's array lies, its header checked against the file's size.
struct NpyLayout {
  Shape shape;
  DType dtype;
  int64_t data_offset, data_bytes;
};

NpyLayout npy_layout(const std::string& path) {
  check_input_file(path);
  std::ifstream f(path, std::ios::binary);
  SV_CHECK(f.good(), IoError, path + ": cannot open for reading: " + std::strerror(errno));
  f.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(f.tellg());
  f.seekg(0);

  unsigned char pre[12];
  if (file_size < 10) fail(path, "file too short (" + std::to_string(file_size) + " bytes) for the NPY preamble");
  f.read(reinterpret_cast<char*>(pre), 8);
  if (std::memcmp(pre, kMagic, kMagicLen) != 0) fail(path, "bad magic string (expected \\x93NUMPY)");
  const int major = pre[6], minor = pre[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    fail(path, "unsupported version " + std::to_string(major) + "." + std::to_string(minor) +
                   " (expected 1.0, 2.0 or 3.0)");
  const int len_bytes = major == 1 ? 2 : 4;
  const int64_t preamble = 8 + len_bytes;
  if (file_size < preamble) fail(path, "file too short for the header length");
  f.read(reinterpret_cast<char*>(pre + 8), len_bytes);
  const int64_t header_len = read_le(pre + 8, len_bytes);
  if (preamble + header_len > file_size)
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  std::string header(static_cast<size_t>(header_len), '\0');
  f.read(header.data(), header_len);
  SV_CHECK(f.good(), IoError, path + ": read error in the header");

  auto dict = HeaderParser(header, path).parse_dict();
  for (const char* key : {"descr", "fortran_order", "shape"})
    if (!dict.count(key)) fail(path, std::string("header has no '") + key + "' entry");
  if (dict.size() != 3) fail(path, "header has keys other than descr, fortran_order and shape");
  const HeaderValue& descr = dict["descr"];
  const HeaderValue& fortran = dict["fortran_order"];
  const HeaderValue& shape_v = dict["shape"];
  if (descr.kind != HeaderValue::Str) fail(path, "'descr' is not a string");
  if (fortran.kind != HeaderValue::Bool) fail(path, "'fortran_order' is not True or False");
  if (shape_v.kind != HeaderValue::Tuple) fail(path, "'shape' is not a tuple");
  if (fortran.b) fail(path, "fortran_order is True; only C order is supported (save with np.ascontiguousarray)");
  DType dt;
  if (descr.str == "<f4") {
    dt = DType::F32;
  } else if (descr.str == "<f8") {
    dt = DType::F64;
  } else {
    fail(path, "dtype '" + descr.str + "' is not supported (expected '<f4' or '<f8')");
  }
  Shape shape(shape_v.tuple.begin(), shape_v.tuple.end());
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d != 0 && numel > (int64_t{1} << 40) / d) fail(path, "shape " + shape_str(shape) + " is too large");
    numel *= d;
  }
  const int64_t data_bytes = numel * static_cast<int64_t>(dtype_size(dt));
  const int64_t have = file_size - preamble - header_len;
  if (have != data_bytes)
    fail(path, "shape " + shape_str(shape) + " of " + descr.str + " needs " + std::to_string(data_bytes) +
                   " data bytes, the file has " + std::to_string(have));

  return {shape, dt, preamble + header_len, data_bytes};
}

}  // namespace

Tensor read_npy(const std::string& path) {
  const NpyLayout l = npy_layout(path);
  std::ifstream f(path, std::ios::binary);
  SV_CHECK(f.good(), IoError, path + ": cannot open for reading: " + std::strerror(errno));
  Tensor t = Tensor::empty(l.shape, l.dtype);
  if (l.data_bytes > 0) {
    f.seekg(l.data_offset);
    f.read(static_cast<char*>(t.raw()), l.data_bytes);
    SV_CHECK(f.good(), IoError, path + ": read error in the data");
  }
  SV_CHECK(host_is_little_endian(), IoError, path + ": big-endian hosts are not supported");
  return t.to(DType::F32);
}

Tensor read_npy_rows(const std::string& path, int64_t first, int64_t last) {
  const NpyLayout l = npy_layout(path);
  SV_CHECK(!l.shape.empty() && 0 <= first && first <= last && last <= l.shape[0], IoError,
           path + ": rows " + std::to_string(first) + ".." + std::to_string(last) + " of an array of shape " +
               shape_str(l.shape));
  Shape shape = l.shape;
  shape[0] = last - first;
  Tensor t = Tensor::empty(shape, l.dtype);
  if (t.nbytes() > 0) {
    std::ifstream f(path, std::ios::binary);
    SV_CHECK(f.good(), IoError, path + ": cannot open for reading: " + std::strerror(errno));
    f.seekg(l.data_offset + first * (l.data_bytes / l.shape[0]));
    f.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
    SV_CHECK(f.good(), IoError, path + ": read error in the data");
  }
  SV_CHECK(host_is_little_endian(), IoError, path + ": big-endian hosts are not supported");
  return t.to(DType::F32);
}

Tensor map_npy(const std::string& path) {
  const NpyLayout l = npy_layout(path);
  if (l.dtype != DType::F32 || l.data_bytes == 0 || l.data_offset % 4 != 0 || !host_is_little_endian())
    return read_npy(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SV_CHECK(fd >= 0, IoError, path + ": cannot open for reading: " + std::strerror(errno));
  const auto len = static_cast<size_t>(l.data_offset + l.data_bytes);
  void* base = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  SV_CHECK(base != MAP_FAILED, IoError, path + ": cannot map: " + std::strerror(err));
  std::shared_ptr<void> storage(base, [len](void* p) { ::munmap(p, len); });
  return Tensor(std::move(storage), l.shape, DType::F32, Device::CPU, l.data_offset / 4);
}

namespace {
// The preamble and header of a float32 C-order array of this shape, padded to 64 bytes.
std::string npy_header(const Shape& shape) {
  // NumPy writes "()" for a scalar, "(3,)" for one dimension and "(2, 3)" for more.
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims;
  dict += "), }";
  // Version 1.0 unless the header does not fit in 16 bits.
  const int major = dict.size() + 64 < 65535 ? 1 : 2;
  const size_t preamble = major == 1 ? 10 : 12;
  size_t total = preamble + dict.size() + 1;  // + '\n'
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string head(kMagic, kMagicLen);
  head += static_cast<char>(major);
  head += '\0';
  const uint32_t hl = static_cast<uint32_t>(dict.size());
  for (size_t i = 0; i < preamble - 8; ++i) head += static_cast<char>((hl >> (8 * i)) & 0xff);
  head += dict;
  return head;
}
}  // namespace

void write_npy(const std::string& path, const Tensor& t) {
  SV_CHECK(t.defined(), ValueError, "write_npy " + path + ": undefined tensor");
  SV_CHECK(t.is_cpu(), ValueError, "write_npy " + path + ": tensor is on " + device_name(t.device()) +
                                       ", download it first");
  SV_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, ValueError,
           std::string("write_npy ") + path + ": dtype " + dtype_name(t.dtype()) + " is not a float type");
  SV_CHECK(host_is_little_endian(), IoError, path + ": big-endian hosts are not supported");
  const Tensor f = t.to(DType::F32);
  const std::string head = npy_header(f.shape());
  write_file_atomic(path, {{head.data(), head.size()}, {f.raw(), f.nbytes()}});
}

NpyWriter::NpyWriter(const std::string& path, const Shape& shape) : shape_(shape), file_(path) {
  SV_CHECK(host_is_little_endian(), IoError, path + ": big-endian hosts are not supported");
  shape_bytes(shape, DType::F32);  // validates the shape
  const std::string head = npy_header(shape);
  file_.write_at(0, head.data(), head.size());
  data_start_ = head.size();
}

void NpyWriter::write(int64_t offset, const float* values, int64_t count) {
  SV_CHECK(offset >= 0 && count >= 0 && offset + count <= shape_numel(shape_), ValueError,
           "NpyWriter: values [" + std::to_string(offset) + ", " + std::to_string(offset + count) + ") outside " +
               shape_str(shape_));
  file_.write_at(data_start_ + static_cast<uint64_t>(offset) * 4, values, static_cast<size_t>(count) * 4);
}

}  // namespace sv
