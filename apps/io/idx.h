// IDX files (the MNIST / Fashion-MNIST container), plain or gzip-compressed.
//
// Layout: a 4-byte magic 0x00 0x00 <dtype> <ndim>, then ndim big-endian uint32
// dimensions, then prod(dims) elements in row-major order. Only dtype 0x08 (unsigned
// byte) is read: that is what every MNIST-family file holds. Whether a file is gzip is
// decided by zlib from its first bytes, so "x.gz" and an uncompressed "x" both work.
// Every problem (missing file, bad magic, unsupported dtype, truncated or corrupt data,
// trailing bytes) is an IoError naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sv {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. (60000, 28, 28) for images, (60000) for labels
  std::vector<uint8_t> data;  // prod(dims) bytes, row-major
};

// max_bytes bounds the element count a header may claim; memory grows with the data
// actually read (16 MB at a time), so a corrupt header cannot make us allocate gigabytes.
IdxArray read_idx(const std::string& path, int64_t max_bytes = int64_t{1} << 31);

// Writes an unsigned-byte IDX file, gzip-compressed when gzip is true (tests and tools).
void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gzip = true);

}  // namespace sv
