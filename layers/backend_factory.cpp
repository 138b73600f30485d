// make_backend("cpu" | "cuda" | "auto"): the one place that knows whether CUDA was built.
#include "autodiff/backend.h"

#ifdef SHAREDVIS_HAVE_CUDA
#include "cuda/cuda_backend.h"
#endif

namespace sv {

bool cuda_available() {
#ifdef SHAREDVIS_HAVE_CUDA
  return cuda_device_count() > 0;
#else
  return false;
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& device) {
  if (device == "cpu") return make_cpu_backend();
  if (device == "cuda" || device == "auto") {
#ifdef SHAREDVIS_HAVE_CUDA
    if (cuda_device_count() > 0) return make_cuda_backend(0);
    SV_CHECK(device == "auto", DeviceError, "--device cuda: " + cuda_unavailable_reason());
#else
    SV_CHECK(device == "auto", DeviceError, "--device cuda: this sharedvis was built without CUDA");
#endif
    return make_cpu_backend();
  }
  throw ValueError("unknown device '" + device + "' (expected cpu, cuda or auto)");
}

}  // namespace sv
