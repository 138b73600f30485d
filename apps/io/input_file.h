// Every reader opens its input through this check first: a missing path or a directory
// (which std::ifstream and fopen may "open" on Linux, then read as nothing or garbage) is
// an IoError naming the path.
#pragma once
#include <filesystem>
#include <string>

#include "autodiff/error.h"

namespace sv {

inline void check_input_file(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  SV_CHECK(std::filesystem::exists(st), IoError, path + ": cannot open: no such file");
  SV_CHECK(!std::filesystem::is_directory(st), IoError, path + ": cannot open: is a directory, not a file");
}

}  // namespace sv
