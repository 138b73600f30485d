// The message of the sv::Error that f throws, or "" when it throws none: for tests that
// assert what an error names.
#pragma once
#include <functional>
#include <string>

#include "autodiff/error.h"

namespace sv::test {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace sv::test
