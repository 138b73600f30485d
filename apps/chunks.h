// The one loop that cuts work into passes: images into batches, cotangents into K-chunks,
// integration steps into groups.
#pragma once
#include <algorithm>
#include <cstdint>

namespace sv {

// Calls f(begin, end) for [0, n) in consecutive pieces of at most `chunk` (chunk <= 0: one piece).
template <class F>
void for_each_chunk(int64_t n, int64_t chunk, F&& f) {
  const int64_t step = chunk > 0 ? chunk : std::max<int64_t>(n, 1);
  for (int64_t b = 0; b < n; b += step) f(b, std::min(n, b + step));
}

}  // namespace sv
