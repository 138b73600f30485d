// Helpers shared by the benchmark files.
#pragma once
#include <cstdint>
#include <random>

#include "autodiff/tensor.h"

namespace sv::bench {

// float32 normal samples with the given standard deviation, reproducible from the seed.
inline Tensor randn(const Shape& s, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(nd(rng));
  return t;
}

}  // namespace sv::bench
