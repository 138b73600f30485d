// Helpers shared by the benchmark files: the tests' generators and error metrics.
#pragma once
#include <cstdint>

#include "autodiff/tensor.h"
#include "tests/tensor_compare.h"

namespace sv::bench {

// float32 normal samples with the given standard deviation, reproducible from the seed
// (the tests' generator, tests/tensor_compare.h).
inline Tensor randn(const Shape& s, uint64_t seed, double scale = 1.0) {
  return test::randn(s, seed, DType::F32, scale);
}
using test::mixed_error;
using test::rel_l2_error;

}  // namespace sv::bench
