// Numbers as the gallery prints them: fixed precision, "–" for a value that is not finite
// (a statistic that does not exist for this neuron or pair).
#pragma once
#include <cmath>
#include <cstdio>
#include <string>

namespace sv {

inline std::string num(double v, int prec = 3) {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

}  // namespace sv
