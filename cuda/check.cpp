#include "cuda/check.h"

namespace sv::cuda {

void throw_device_error(const std::string& what, const char* stmt, const char* file, int line) {
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    device = -1;
    cudaGetLastError();
  }
  throw DeviceError(what + " in `" + stmt + "` at " + file + ":" + std::to_string(line) + " on device " +
                    std::to_string(device));
}

}  // namespace sv::cuda
