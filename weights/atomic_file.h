// Atomic file output: the bytes go to a temporary file in the destination's folder, which
// is renamed onto the final name only once everything is written and closed. An
// interrupted or failed write never leaves a partial file under the final name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sv {

// One contiguous piece of the file's content.
struct ByteSpan {
  const void* data;
  size_t size;
};

// A file written in pieces at any offsets, then renamed onto its final name by commit();
// until then it lives under a temporary name in the same folder, which the destructor
// removes when commit() was not reached (an error, an interruption).
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write_at(uint64_t offset, const void* data, size_t size);  // IoError naming the path
  void commit();                                                   // fsync, close, rename

 private:
  [[noreturn]] void fail(const std::string& what);
  std::string path_, tmp_;
  int fd_ = -1;
};

// Writes the concatenation of parts to path atomically. IoError naming the path on failure
// (the temporary file is removed).
void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& parts);

// Throws IoError unless the folder that would hold path exists and is writable: lets a
// command fail before a long computation rather than after it.
void check_output_path(const std::string& path);

}  // namespace sv
