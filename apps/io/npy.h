// NPY files (NumPy's format, version 1.0/2.0): float32 little-endian C order on write;
// read accepts '<f4' and '<f8' (converted to float32) C order, validating the header.
#pragma once
#include <string>

#include "autodiff/tensor.h"

namespace sv {

Tensor read_npy(const std::string& path);                    // IoError naming the file on any problem
void write_npy(const std::string& path, const Tensor& t);    // atomic: temporary name, then rename

}  // namespace sv
