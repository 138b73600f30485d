// NPY files (NumPy's format, version 1.0/2.0): float32 little-endian C order on write;
// read accepts '<f4' and '<f8' (converted to float32) C order, validating the header.
#pragma once
#include <string>

#include "weights/atomic_file.h"
#include "autodiff/tensor.h"

namespace sv {

Tensor read_npy(const std::string& path);                    // IoError naming the file on any problem
// The same, with a '<f4' file's data memory-mapped (copy-on-write: writing the Tensor never
// touches the file) instead of read; other dtypes are read as read_npy does.
Tensor map_npy(const std::string& path);
// Rows [first, last) of the array's first dimension, read alone, as float32 (a report
// reads one pair's maps of a large file); IoError naming the file for rows outside it.
Tensor read_npy_rows(const std::string& path, int64_t first, int64_t last);
void write_npy(const std::string& path, const Tensor& t);    // atomic: temporary name, then rename

// A float32 NPY file of a known shape written in pieces (a result too large to hold whole):
// write() puts count values at a flat element offset; commit() makes the file appear under
// its name. Atomic as write_npy: nothing under the final name before commit().
class NpyWriter {
 public:
  NpyWriter(const std::string& path, const Shape& shape);
  void write(int64_t offset, const float* values, int64_t count);
  void commit() { file_.commit(); }

 private:
  Shape shape_;
  AtomicFile file_;
  uint64_t data_start_ = 0;
};

}  // namespace sv
