// safetensors reader and writer; see safetensors.h for the checks the reader makes.
#include "weights/safetensors.h"
#include "weights/atomic_file.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace sv {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

std::string range_str(uint64_t b, uint64_t e) {
  std::string s = std::to_string(b);  // built by appending: GCC 12 warns falsely on "[" + to_string(..)
  s.insert(0, 1, '[');
  s.append(", ").append(std::to_string(e)).append(")");
  return s;
}

bool parse_dtype(const std::string& s, StDtype& d) {
  if (s == "F32") d = StDtype::F32;
  else if (s == "F64") d = StDtype::F64;
  else if (s == "F16") d = StDtype::F16;
  else if (s == "BF16") d = StDtype::BF16;
  else return false;
  return true;
}

// A JSON value that is a non-negative integer fitting in int64.
bool as_index(const json& v, uint64_t& out) {
  if (!v.is_number_unsigned()) return false;
  out = v.get<uint64_t>();
  return out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

}  // namespace

const char* st_dtype_name(StDtype d) {
  switch (d) {
    case StDtype::F32: return "F32";
    case StDtype::F64: return "F64";
    case StDtype::F16: return "F16";
    case StDtype::BF16: return "BF16";
  }
  return "?";
}

size_t st_dtype_size(StDtype d) {
  switch (d) {
    case StDtype::F32: return 4;
    case StDtype::F64: return 8;
    case StDtype::F16: return 2;
    case StDtype::BF16: return 2;
  }
  return 0;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (mant << 13)) : (sign | ((exp + 112) << 23) | (mant << 13));
  return std::bit_cast<float>(bits);
}

float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// ---- reader

SafetensorsReader::SafetensorsReader(const std::string& path) : path_(path) {
  auto fail = [&](const std::string& what) { throw IoError(path + ": " + what); };
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("no such file");
  if (fs::is_directory(path, ec)) fail("is a directory, not a safetensors file");
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) fail("cannot stat: " + ec.message());
  in_.open(path, std::ios::binary);
  if (!in_) fail("cannot open for reading");

  // (u64 LE) header length, then the header
  if (file_size < 8)
    fail("truncated: " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  unsigned char len[8];
  if (!in_.read(reinterpret_cast<char*>(len), 8)) fail("cannot read the header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  if (n > file_size - 8)
    fail("header length " + std::to_string(n) + " exceeds the " + std::to_string(file_size - 8) +
         " bytes after the length field (truncated or not a safetensors file)");
  if (n > kMaxHeaderBytes) fail("header length " + std::to_string(n) + " exceeds the limit of 100 MB");
  std::string text(n, '\0');
  if (!in_.read(text.data(), static_cast<std::streamsize>(n))) fail("cannot read the " + std::to_string(n) + "-byte header");
  // JSON text, padded with spaces; nlohmann's parser would stop at a NUL and accept
  // whatever follows it, which the reference implementation rejects.
  if (const size_t nul = text.find('\0'); nul != std::string::npos)
    fail("header contains a NUL byte at offset " + std::to_string(nul) + " (it must be JSON text, padded with spaces)");
  data_start_ = 8 + n;
  data_size_ = file_size - data_start_;

  // JSON, rejecting duplicate top-level keys (a plain parse would keep the last silently)
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth == 1 && ev == json::parse_event_t::key && parsed.is_string() &&
        !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(text, cb);
  } catch (const json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail("header is not a JSON object");
  if (!duplicate.empty()) fail("tensor '" + duplicate + "': listed twice in the header");

  for (auto& [key, val] : header.items()) {
    if (key == "__metadata__") {
      if (!val.is_object()) fail("__metadata__ is not a JSON object");
      for (auto& [mk, mv] : val.items()) {
        if (!mv.is_string()) fail("__metadata__ entry '" + mk + "' is not a string");
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    // (an init-capture: clang 14 cannot capture the structured binding itself)
    auto bad = [&, &name = key](const std::string& what) { fail("tensor '" + name + "': " + what); };
    if (key.empty()) bad("empty tensor name");
    if (!val.is_object()) bad("header entry is not a JSON object");
    StEntry e;
    e.name = key;
    auto dt = val.find("dtype"), sh = val.find("shape"), off = val.find("data_offsets");
    if (dt == val.end()) bad("missing 'dtype'");
    if (sh == val.end()) bad("missing 'shape'");
    if (off == val.end()) bad("missing 'data_offsets'");
    if (!dt->is_string()) bad("'dtype' is not a string");
    if (!parse_dtype(dt->get<std::string>(), e.dtype))
      bad("unsupported dtype '" + dt->get<std::string>() + "' (F32, F64, F16 and BF16 are read)");
    if (!sh->is_array()) bad("'shape' is not an array");
    uint64_t numel = 1;
    for (const json& d : *sh) {
      uint64_t v = 0;
      if (!as_index(d, v)) bad("'shape' " + sh->dump() + " holds something other than a non-negative integer");
      if (__builtin_mul_overflow(numel, v, &numel) || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        bad("shape " + sh->dump() + " has too many elements");
      e.shape.push_back(static_cast<int64_t>(v));
    }
    if (!off->is_array() || off->size() != 2 || !as_index((*off)[0], e.begin) || !as_index((*off)[1], e.end))
      bad("'data_offsets' " + off->dump() + " is not a pair of non-negative integers");
    if (e.begin > e.end) bad("data_offsets " + range_str(e.begin, e.end) + " end before they begin");
    if (e.end > data_size_)
      bad("data_offsets " + range_str(e.begin, e.end) + " lie outside the data area of " + std::to_string(data_size_) +
          " bytes (truncated file?)");
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(st_dtype_size(e.dtype)), &bytes))
      bad("shape " + shape_str(e.shape) + " is too large");
    if (bytes != e.end - e.begin)
      bad("size mismatch: shape " + shape_str(e.shape) + " of " + st_dtype_name(e.dtype) + " needs " +
          std::to_string(bytes) + " bytes, data_offsets " + range_str(e.begin, e.end) + " hold " +
          std::to_string(e.end - e.begin));
    entries_.push_back(std::move(e));
  }

  std::sort(entries_.begin(), entries_.end(),
            [](const StEntry& a, const StEntry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  for (size_t i = 1; i < entries_.size(); ++i) {
    const StEntry &a = entries_[i - 1], &b = entries_[i];
    if (b.begin < a.end)
      fail("tensor '" + b.name + "': data_offsets " + range_str(b.begin, b.end) + " overlap those of tensor '" +
           a.name + "' " + range_str(a.begin, a.end));
  }
}

const StEntry* SafetensorsReader::find(const std::string& name) const {
  for (const StEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

Tensor SafetensorsReader::read(const std::string& name) {
  const StEntry* e = find(name);
  if (!e) throw IoError(path_ + ": tensor '" + name + "' is not in the file");
  return read(*e);
}

Tensor SafetensorsReader::read(const StEntry& e) {
  const uint64_t bytes = e.end - e.begin;
  Tensor t = Tensor::empty(e.shape, DType::F32);
  const int64_t n = t.numel();
  float* out = t.data<float>();
  auto fetch = [&](void* dst) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(data_start_ + e.begin));
    if (bytes && !in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes)))
      throw IoError(path_ + ": tensor '" + e.name + "': cannot read its " + std::to_string(bytes) +
                    " bytes (file truncated or changed while reading)");
  };
  switch (e.dtype) {
    case StDtype::F32: fetch(out); break;
    case StDtype::F64: {
      std::vector<double> buf(static_cast<size_t>(n));
      fetch(buf.data());
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(buf[i]);
      break;
    }
    case StDtype::F16:
    case StDtype::BF16: {
      std::vector<uint16_t> buf(static_cast<size_t>(n));
      fetch(buf.data());
      const bool half = e.dtype == StDtype::F16;
      for (int64_t i = 0; i < n; ++i) out[i] = half ? f16_to_f32(buf[i]) : bf16_to_f32(buf[i]);
      break;
    }
  }
  return t;
}

NamedTensors SafetensorsReader::read_all() {
  NamedTensors out;
  for (const StEntry& e : entries_) out.emplace_back(e.name, read(e));
  return out;
}

// ---- writer

void write_safetensors(const std::string& path, const NamedTensors& tensors, const StMetadata& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    SV_CHECK(!name.empty() && name != "__metadata__", ValueError,
             "write_safetensors " + path + ": invalid tensor name '" + name + "'");
    SV_CHECK(!header.contains(name), ValueError, "write_safetensors " + path + ": tensor '" + name + "' given twice");
    SV_CHECK(t.defined() && t.is_cpu(), ValueError,
             "write_safetensors " + path + ": tensor '" + name + "' is undefined or not on the host");
    Tensor h = t.dtype() == DType::F64 ? t : t.to(DType::F32);
    header[name] = {{"dtype", h.dtype() == DType::F64 ? "F64" : "F32"},
                    {"shape", h.shape()},
                    {"data_offsets", {offset, offset + h.nbytes()}}};
    offset += h.nbytes();
    data.push_back(h);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data area 8-byte aligned

  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  std::vector<ByteSpan> parts{{len, 8}, {text.data(), text.size()}};
  for (const Tensor& t : data) parts.push_back({t.raw(), static_cast<size_t>(t.nbytes())});
  write_file_atomic(path, parts);
}

}  // namespace sv
