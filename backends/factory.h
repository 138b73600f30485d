// Making a backend by name: the one place that knows which backends were built.
#pragma once
#include <memory>
#include <string>

#include "autodiff/backend.h"

namespace sv {

// The CPU backends. reference = plain loops (the oracle); otherwise im2col + BLAS and threads
// (threads <= 0: one per core).
std::unique_ptr<Backend> make_cpu_backend(bool reference = false, int threads = 0);

// "cpu", "cuda" or "auto". A GPU is used only after it passes a self-check against the CPU
// reference (backends/backend_check.h; once per process, well under a second): "auto" takes
// CUDA when built with it, a device is present and the check passes, and otherwise runs on
// the CPU, saying why on stderr when a device was there; "cuda" throws DeviceError instead.
std::unique_ptr<Backend> make_backend(const std::string& device);
bool cuda_available();

}  // namespace sv
