// One table of names per enum of the method's choices: parsing with an error that lists
// the choices, printing, and the list a CLI flag is checked against at parse time
// (CLI::IsMember(enum_choices(table))), so that the names exist once.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "autodiff/error.h"

namespace sv {

template <class E>
struct EnumName {
  const char* name;
  E value;
};

template <class E, size_t N>
std::vector<std::string> enum_choices(const std::array<EnumName<E>, N>& names) {
  std::vector<std::string> out;
  for (const EnumName<E>& n : names) out.push_back(n.name);
  return out;
}

// what: how the error names the value, e.g. "--reduce" or "pooling".
template <class E, size_t N>
E parse_enum(const std::array<EnumName<E>, N>& names, const std::string& s, const std::string& what) {
  for (const EnumName<E>& n : names)
    if (s == n.name) return n.value;
  std::string expected;
  for (size_t i = 0; i < N; ++i) expected += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + names[i].name;
  throw ValueError("unknown " + what + " '" + s + "' (expected " + expected + ")");
}

template <class E, size_t N>
const char* enum_name(const std::array<EnumName<E>, N>& names, E v) {
  for (const EnumName<E>& n : names)
    if (n.value == v) return n.name;
  return "?";
}

}  // namespace sv
