// Comma-separated lists as the CLI and model metadata give them ("Bag, Sandal").
#pragma once
#include <string>
#include <vector>

namespace sv {

// Every field of s between separators, spaces and tabs trimmed; empty fields are kept
// ("a,,b," -> {"a", "", "b", ""}; "" -> {""}).
inline std::vector<std::string> split_fields(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  size_t a = 0;
  while (true) {
    const size_t b = s.find(sep, a);
    const std::string item = s.substr(a, b == std::string::npos ? std::string::npos : b - a);
    const size_t l = item.find_first_not_of(" \t"), r = item.find_last_not_of(" \t");
    out.push_back(l == std::string::npos ? std::string() : item.substr(l, r - l + 1));
    if (b == std::string::npos) return out;
    a = b + 1;
  }
}

// The non-empty fields of s.
inline std::vector<std::string> split_nonempty(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  for (std::string& f : split_fields(s, sep))
    if (!f.empty()) out.push_back(std::move(f));
  return out;
}

}  // namespace sv
