// A backend's self-check against the CPU reference, before it is trusted.
//
// A few small shapes of every op family the method runs (convolutions of the shapes
// torchvision's CNNs use, eval and train batchnorm, max / average / adaptive pooling,
// linear, ReLU, the K-stacked backward kernels with K = 2), forward and backward, run on
// the candidate and on the reference backend from the same inputs and compared. An
// exception from the candidate (a CUDA error, say) is a failure too, never a crash.
// make_backend("auto") runs it on a GPU before it picks CUDA (backends/factory.h).
#pragma once
#include <string>

#include "autodiff/backend.h"

namespace sv {

struct BackendCheck {
  bool passed = false;
  int comparisons = 0;   // outputs compared
  double seconds = 0;    // both backends, uploads and downloads included
  std::string failure;   // the first failing case and why; empty when passed
};

// Tolerances, as a multiple of the reference output's largest magnitude: convolutions may
// run in TF32 (10-bit mantissa, as PyTorch allows for cuDNN); everything else is float32.
inline constexpr double kConvCheckTol = 1e-2;
inline constexpr double kCheckTol = 1e-4;

// Why `got` does not match `want` (any device: both are downloaded by the caller), or ""
// when it does: same shape, every element finite where want is, and
// max |got - want| <= tol * max |want| (an all-zero want must be matched exactly).
std::string compare_to_reference(const Tensor& got, const Tensor& want, double tol);

// Every case on `candidate` and on `reference` (normally make_cpu_backend(true)).
BackendCheck check_backend(Backend& candidate, Backend& reference);

}  // namespace sv
