// Comparing two explain output folders (test_batch_invariance.cpp, test_explain_stages.cpp):
// results.json as JSON less the fields that may differ by construction, every other file
// byte for byte.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

namespace sv::testing {

inline std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The first few differences between two JSON documents, as paths; "" when equal.
inline std::string json_diff(const nlohmann::json& a, const nlohmann::json& b) {
  const nlohmann::json patch = nlohmann::json::diff(a, b);
  std::string out;
  for (size_t i = 0; i < std::min<size_t>(patch.size(), 5); ++i) out += patch[i]["path"].get<std::string>() + " ";
  return patch.empty() ? "" : std::to_string(patch.size()) + " differences: " + out;
}

// results.json without its timings and without the JSON pointers listed in `also`.
inline nlohmann::json comparable_results(const std::filesystem::path& dir, std::initializer_list<const char*> also = {}) {
  nlohmann::json j = nlohmann::json::parse(file_bytes(dir / "results.json"));
  j.erase("timing_seconds");
  for (const char* p : also) {
    const nlohmann::json::json_pointer ptr(p);
    j[ptr.parent_pointer()].erase(ptr.back());
  }
  return j;
}

// Every file of output a is in b: results.json equal as `results` says, index.html (which
// shows the timings) left out, the rest (maps as .npy, the readouts, PNG overlays and
// figures) byte for byte. Returns the number of .npy files compared.
inline int expect_same_files(const std::filesystem::path& a, const std::filesystem::path& b) {
  int compared = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(a)) {
    if (!e.is_regular_file()) continue;
    const std::filesystem::path rel = std::filesystem::relative(e.path(), a);
    if (rel == "results.json" || rel == "index.html") continue;
    EXPECT_TRUE(std::filesystem::exists(b / rel)) << rel;
    EXPECT_TRUE(file_bytes(e.path()) == file_bytes(b / rel)) << rel << " differs";
    compared += rel.extension() == ".npy";
  }
  return compared;
}

}  // namespace sv::testing
