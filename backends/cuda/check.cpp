#include "backends/cuda/check.h"

namespace sv::cuda {

void throw_device_error(const std::string& what, const char* stmt, const char* file, int line) {
  // A failed runtime call stays the thread's "last error" until read: clear it, or the
  // next launch check would report it again at an innocent call. (Sticky errors, which
  // corrupt the context, cannot be cleared and keep failing every call, as they should.)
  cudaGetLastError();
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    device = -1;
    cudaGetLastError();
  }
  throw DeviceError(what + " in `" + stmt + "` at " + file + ":" + std::to_string(line) + " on device " +
                    std::to_string(device));
}

}  // namespace sv::cuda
