// Atomic file output: the bytes go to a temporary file in the destination's folder, which
// is renamed onto the final name only once everything is written and closed. An
// interrupted or failed write never leaves a partial file under the final name.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace sv {

// One contiguous piece of the file's content.
struct ByteSpan {
  const void* data;
  size_t size;
};

// Writes the concatenation of parts to path atomically. IoError naming the path on failure
// (the temporary file is removed).
void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& parts);

// Throws IoError unless the folder that would hold path exists and is writable: lets a
// command fail before a long computation rather than after it.
void check_output_path(const std::string& path);

}  // namespace sv
