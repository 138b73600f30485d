#include "cuda/device_allocator.h"

#include <algorithm>
#include <bit>
#include <string>

#include "cuda/check.h"
#include "cuda/handles.h"

namespace sv::cuda {

namespace {
constexpr size_t kSmall = size_t(1) << 20;  // 1 MiB
constexpr size_t kSmallStep = 512;
constexpr size_t kLargeMinStep = size_t(2) << 20;  // 2 MiB

std::string mib(size_t b) { return std::to_string(b >> 20) + " MiB"; }

// Returns a block to its allocator; holds the allocator alive.
struct BlockDeleter {
  std::shared_ptr<DeviceAllocator> owner;
  size_t bytes;
  void operator()(void* p) const;
};
}  // namespace

// The deleter's way back into the allocator's private give_back.
struct DeviceAllocatorAccess {
  static void give_back(DeviceAllocator& a, void* p, size_t bytes) noexcept { a.give_back(p, bytes); }
};

namespace {
void BlockDeleter::operator()(void* p) const { DeviceAllocatorAccess::give_back(*owner, p, bytes); }
}  // namespace

std::shared_ptr<DeviceAllocator> DeviceAllocator::create(int device) {
  return std::shared_ptr<DeviceAllocator>(new DeviceAllocator(device));
}

DeviceAllocator::~DeviceAllocator() {
  // Runs when the last tensor and the backend are gone; never throws.
  int prev = -1;
  if (cudaGetDevice(&prev) != cudaSuccess) return;
  if (prev != device_) cudaSetDevice(device_);
  for (auto& [size, blocks] : cache_)
    for (void* p : blocks) cudaFree(p);
  if (prev != device_) cudaSetDevice(prev);
  cudaGetLastError();
}

size_t DeviceAllocator::bucket(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes < kSmall) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  size_t step = std::max(kLargeMinStep, std::bit_floor(bytes) / 32);
  return (bytes + step - 1) / step * step;
}

std::shared_ptr<void> DeviceAllocator::allocate(size_t bytes) {
  const size_t size = bucket(bytes);
  void* p = nullptr;
  size_t got = size;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // This bucket, or one at most 1/16 larger (large blocks only).
    auto it = cache_.lower_bound(size);
    const size_t slack = size < kSmall ? 0 : size / 16;
    for (; it != cache_.end() && it->first <= size + slack; ++it) {
      if (it->second.empty()) continue;
      p = it->second.back();
      it->second.pop_back();
      got = it->first;
      ++stats_.hits;
      break;
    }
    if (!p) {
      DeviceGuard guard(device_);
      cudaError_t e = cudaMalloc(&p, size);
      if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        release_cached_locked();
        e = cudaMalloc(&p, size);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        throw DeviceError("CUDA out of memory on device " + std::to_string(device_) + ": cannot allocate " +
                          std::to_string(size) + " bytes (" + mib(size) + "); " + mib(stats_.in_use) +
                          " in use by tensors, cache emptied (" + status_string(e) + ")");
      }
      ++stats_.mallocs;
      stats_.reserved += size;
      stats_.peak_reserved = std::max(stats_.peak_reserved, stats_.reserved);
    }
    stats_.in_use += got;
    stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
  }
  return std::shared_ptr<void>(p, BlockDeleter{shared_from_this(), got});
}

void DeviceAllocator::give_back(void* p, size_t bytes) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.in_use -= bytes;
  try {
    cache_[bytes].push_back(p);
  } catch (...) {  // out of host memory: give the block to the driver instead
    stats_.reserved -= bytes;
    cudaFree(p);
  }
}

void DeviceAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mu_);
  DeviceGuard guard(device_);
  release_cached_locked();
}

void DeviceAllocator::release_cached_locked() {
  // cudaFree synchronizes the device, so no kernel still reads these blocks.
  for (auto& [size, blocks] : cache_) {
    for (void* p : blocks) {
      cudaFree(p);
      stats_.reserved -= size;
    }
    blocks.clear();
  }
  cache_.clear();
}

MemoryStats DeviceAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void DeviceAllocator::reset_peaks() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_in_use = stats_.in_use;
  stats_.peak_reserved = stats_.reserved;
}

}  // namespace sv::cuda
