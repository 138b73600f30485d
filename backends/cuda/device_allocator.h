// Device memory for the CUDA backend's caching allocator (autodiff/caching_allocator.h):
// plain cudaMalloc'd blocks of one device (never managed memory). Out of memory is a
// DeviceError naming the device and the sizes involved.
#pragma once
#include <memory>

#include "autodiff/caching_allocator.h"

namespace sv::cuda {

std::unique_ptr<RawMemory> device_memory(int device);

// The backend's allocator: device memory, cached until release_cached() or an
// out-of-memory retry (no cap: a cudaFree in the middle of a pass would synchronize).
inline std::shared_ptr<CachingAllocator> make_device_allocator(int device) {
  return CachingAllocator::create(device_memory(device), /*peak_multiple=*/0);
}

}  // namespace sv::cuda
