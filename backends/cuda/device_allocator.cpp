#include "backends/cuda/device_allocator.h"

#include <string>

#include "backends/cuda/check.h"
#include "backends/cuda/handles.h"

namespace sv::cuda {

namespace {

std::string mib(size_t b) { return std::to_string(b >> 20) + " MiB"; }

class DeviceMemory final : public RawMemory {
 public:
  explicit DeviceMemory(int device) : device_(device) {}

  void* allocate(size_t bytes) override {
    DeviceGuard guard(device_);
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: clear it, the allocator retries with its cache emptied
      return nullptr;
    }
    SV_CUDA_CHECK(e);
    return p;
  }

  // Only cached blocks are released (out-of-memory retry, release_cached, the end), and
  // their last readers may still be queued: wait for the device first. Never throws.
  void release(void* p) noexcept override {
    int prev = -1;
    const bool known = cudaGetDevice(&prev) == cudaSuccess;
    if (known && prev != device_) cudaSetDevice(device_);
    cudaDeviceSynchronize();
    cudaFree(p);
    if (known && prev != device_) cudaSetDevice(prev);
    cudaGetLastError();
  }

  [[noreturn]] void out_of_memory(size_t bytes, const MemoryStats& s) const override {
    throw DeviceError("CUDA out of memory on device " + std::to_string(device_) + ": cannot allocate " +
                      std::to_string(bytes) + " bytes (" + mib(bytes) + "); " + mib(s.in_use) +
                      " in use by tensors, cache emptied");
  }

 private:
  int device_;
};

}  // namespace

std::unique_ptr<RawMemory> device_memory(int device) { return std::make_unique<DeviceMemory>(device); }

}  // namespace sv::cuda
