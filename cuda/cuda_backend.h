// The CUDA backend (cuDNN + cuBLAS + our kernels) behind the Backend interface.
#pragma once
#include <memory>

#include "autodiff/backend.h"

namespace sv {

int cuda_device_count();  // 0 when no driver or no device (never throws)
std::unique_ptr<Backend> make_cuda_backend(int device);

}  // namespace sv
