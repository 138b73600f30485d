// A fresh folder under the system's temporary directory for one test, removed with it:
// <tmp>/sv_<tag>_<pid>, emptied first if a killed run left it behind.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace sv::test {

struct TempDir {
  std::filesystem::path root;
  explicit TempDir(const std::string& tag)
      : root(std::filesystem::temp_directory_path() / ("sv_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(root);
    std::filesystem::create_directories(root);
  }
  ~TempDir() { std::filesystem::remove_all(root); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace sv::test
