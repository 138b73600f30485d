// safetensors files: a native reader and an atomic writer (no Python, no framework).
//
// Layout: [u64 little-endian n][n bytes of JSON header][data area]. The header is a JSON
// object mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]},
// offsets relative to the data area, plus an optional "__metadata__" map of strings.
//
// The reader trusts nothing: the header length must fit in the file, the header must be
// a JSON object, every entry must have a known dtype, a shape of non-negative integers and
// offsets inside the data area whose length equals numel * dtype size (computed without
// overflow), and no two tensors may overlap. Every problem is an sv::IoError naming the
// file, the tensor and what is wrong; a truncated or corrupt file never reads out of bounds.
// F32, F64, F16 and BF16 are read and converted to float32.
#pragma once
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/tensor.h"

namespace sv {

enum class StDtype : uint8_t { F32, F64, F16, BF16 };
const char* st_dtype_name(StDtype d);  // "F32", ...
size_t st_dtype_size(StDtype d);

// One tensor of a file's header.
struct StEntry {
  std::string name;
  StDtype dtype = StDtype::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data area
};

using StMetadata = std::map<std::string, std::string>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Opens a file and validates its header; tensor data is read on demand.
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path);

  const std::string& path() const { return path_; }
  const StMetadata& metadata() const { return metadata_; }
  const std::vector<StEntry>& entries() const { return entries_; }  // in data-area order
  const StEntry* find(const std::string& name) const;              // null if absent

  // The tensor as a float32 host tensor of its shape. IoError if absent or unreadable.
  Tensor read(const std::string& name);
  Tensor read(const StEntry& e);
  NamedTensors read_all();  // in data-area order

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t data_start_ = 0, data_size_ = 0;
  StMetadata metadata_;
  std::vector<StEntry> entries_;
};

// Writes tensors (any host dtype, stored as F32; F64 tensors stay F64) and metadata to
// `path` atomically: a temporary file in the same directory, then a rename. Names must be
// unique, non-empty and not "__metadata__" (ValueError); I/O failures are IoErrors.
void write_safetensors(const std::string& path, const NamedTensors& tensors, const StMetadata& metadata = {});

// Half-precision conversions (exact; subnormals, infinities and NaN preserved).
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);

}  // namespace sv
