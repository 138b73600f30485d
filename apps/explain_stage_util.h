// Small helpers the stages of `sharedvis explain` share (apps/explain_stages.h).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/error.h"

namespace sv {

// v[rows[0]], v[rows[1]], ...
inline std::vector<double> gather(const std::vector<double>& v, const std::vector<int64_t>& rows) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (int64_t r : rows) out.push_back(v[static_cast<size_t>(r)]);
  return out;
}

// The index of v's first NaN or infinity; -1 when every value is finite.
inline int64_t first_nonfinite_value(const std::vector<double>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return static_cast<int64_t>(i);
  return -1;
}

// A stage whose numbers are not finite stops the run, naming the stage and where, instead
// of writing a report of NaNs ("null" in results.json) and blank maps.
inline void require_finite(const std::vector<double>& v, const std::string& what, const std::string& hint = "") {
  const int64_t i = first_nonfinite_value(v);
  SV_CHECK(i < 0, ValueError,
           what + " is not finite (" + std::to_string(v[static_cast<size_t>(i)]) + " at index " + std::to_string(i) +
               ")" + (hint.empty() ? "" : "; " + hint));
}

}  // namespace sv
