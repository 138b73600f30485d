// Device discovery. The full backend arrives with the CUDA issue.
#include <cuda_runtime.h>

#include "cuda/cuda_backend.h"

namespace sv {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::unique_ptr<Backend> make_cuda_backend(int) {
  throw DeviceError("the CUDA backend is not implemented yet");
}

}  // namespace sv
