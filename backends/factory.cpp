// make_backend("cpu" | "cuda" | "auto"): the one place that knows whether CUDA was built.
//
// A GPU is trusted only after it passes the self-check against the CPU reference
// (backends/backend_check.h), once per process: "auto" falls back to the CPU with a word on
// stderr when it fails, "cuda" fails with the reason.
#include <cstdio>
#include <mutex>
#include <optional>

#include "backends/factory.h"

#include "backends/backend_check.h"
#include "backends/cpu/cpu_backend.h"

#ifdef SHAREDVIS_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace sv {

std::unique_ptr<Backend> make_cpu_backend(bool reference, int threads) {
  if (reference) return std::make_unique<ReferenceBackend>();
  return std::make_unique<CpuBackend>(threads);
}

bool cuda_available() {
#ifdef SHAREDVIS_HAVE_CUDA
  return cuda_device_count() > 0;
#else
  return false;
#endif
}

#ifdef SHAREDVIS_HAVE_CUDA
namespace {
// The self-check's verdict on CUDA device 0. It is a fact about the process's device and
// driver, not state of any backend, so it is kept for the process (like CUDA's own context):
// the first backend that asks runs the check, later ones reuse the verdict.
const BackendCheck& cuda_verdict(Backend& gpu) {
  static std::mutex mutex;
  static std::optional<BackendCheck> verdict;
  std::lock_guard<std::mutex> lock(mutex);
  if (!verdict) {
    auto reference = make_cpu_backend(/*reference=*/true);
    verdict = check_backend(gpu, *reference);
  }
  return *verdict;
}
}  // namespace
#endif

std::unique_ptr<Backend> make_backend(const std::string& device) {
  if (device == "cpu") return make_cpu_backend();
  if (device == "cuda" || device == "auto") {
#ifdef SHAREDVIS_HAVE_CUDA
    if (cuda_device_count() > 0) {
      std::unique_ptr<Backend> gpu;
      std::string why;
      try {
        gpu = make_cuda_backend(0);
        gpu->set_fallback(make_cpu_backend(/*reference=*/true));  // for the ops it does not support
        const BackendCheck& v = cuda_verdict(*gpu);
        if (v.passed) return gpu;
        why = "it failed the self-check against the CPU reference: " + v.failure;
      } catch (const Error& e) {
        why = e.what();
      }
      SV_CHECK(device == "auto", DeviceError, "--device cuda: " + why);
      std::fprintf(stderr, "sharedvis: --device auto: not using the GPU, running on the CPU: %s\n", why.c_str());
      return make_cpu_backend();
    }
    SV_CHECK(device == "auto", DeviceError, "--device cuda: " + cuda_unavailable_reason());
#else
    SV_CHECK(device == "auto", DeviceError, "--device cuda: this sharedvis was built without CUDA");
#endif
    return make_cpu_backend();
  }
  throw ValueError("unknown device '" + device + "' (expected cpu, cuda or auto)");
}

}  // namespace sv
