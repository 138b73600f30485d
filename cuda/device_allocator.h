// A caching device allocator: cudaMalloc'd blocks are kept in a size-bucketed cache when
// their tensors die and handed out again, so steady-state ops never call cudaMalloc or
// cudaFree.
//
// - Sizes are rounded to a bucket: multiples of 512 B below 1 MiB; above, multiples of
//   max(2 MiB, 2^floor(log2 size) / 32) (at most ~3% rounding for large blocks). A request
//   takes a cached block of its bucket, or of a bucket at most 1/16 larger, else
//   cudaMalloc's a new one.
// - When cudaMalloc fails, every cached block is released (cudaFree) and the call retried;
//   a second failure throws DeviceError with the sizes involved.
// - Blocks are used by one stream (the owning backend's), so a block freed while a kernel
//   still reads it is only reused by later work on that same stream: stream order keeps it
//   safe without events.
// - The allocator is held by shared_ptr: every Tensor's deleter holds one, so the
//   allocator (and the device memory it caches) outlives the backend that made it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace sv::cuda {

struct MemoryStats {
  size_t in_use = 0;         // bytes in blocks held by live tensors (rounded sizes)
  size_t peak_in_use = 0;
  size_t reserved = 0;       // bytes obtained from cudaMalloc (in use + cached)
  size_t peak_reserved = 0;
  int64_t mallocs = 0;       // cudaMalloc calls so far
  int64_t hits = 0;          // requests served from the cache
};

class DeviceAllocator : public std::enable_shared_from_this<DeviceAllocator> {
 public:
  static std::shared_ptr<DeviceAllocator> create(int device);
  ~DeviceAllocator();
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // A block of at least `bytes` (256-byte aligned) whose deleter returns it to this cache.
  std::shared_ptr<void> allocate(size_t bytes);
  // cudaFree every cached (unused) block.
  void release_cached();
  MemoryStats stats() const;
  void reset_peaks();
  int device() const { return device_; }

  static size_t bucket(size_t bytes);

 private:
  friend struct DeviceAllocatorAccess;
  explicit DeviceAllocator(int device) : device_(device) {}
  void give_back(void* p, size_t bytes) noexcept;
  void release_cached_locked();

  int device_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> cache_;  // bucket size -> free blocks
  MemoryStats stats_;
};

}  // namespace sv::cuda
