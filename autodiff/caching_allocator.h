// A caching allocator: blocks are kept in a size-bucketed cache when their tensors die and
// handed out again, so an op in a steady state (the same shapes pass after pass: a
// backward, the batches of an explain run) gets its output memory without a system call.
// On the host that saves the page faults of fresh memory (a quarter of a K-stacked
// ResNet-50 backward's time went to faulting in and zeroing new pages); on a GPU it saves
// cudaMalloc / cudaFree, which synchronize the device.
//
// - Sizes are rounded to a bucket: multiples of 512 B below 1 MiB; above, multiples of
//   max(2 MiB, 2^floor(log2 size) / 32) (at most ~3% rounding for large blocks). A request
//   takes a cached block of its bucket, or of a bucket at most 1/16 larger, else a new
//   block from the RawMemory below.
// - When RawMemory is out of memory, every cached block is released and the call retried;
//   a second failure throws (RawMemory::out_of_memory names the sizes).
// - peak_multiple m > 0 (the host's policy, m = 2): a freed block is cached only while the
//   cache stays within m times the most memory ever in use at once, so the process never
//   holds more than (m + 1) times what it needed; otherwise it goes straight back. With
//   m = 0 (the GPU's policy) blocks are cached until release_cached() or an out-of-memory
//   retry. (A K = 16 ResNet-50 backward settles at 1.85x its peak in use and then makes no
//   new allocations; a cap of 1x kept it allocating, and page faulting, every pass.)
// - GPU blocks are used by one stream (the owning backend's), so a block freed while a
//   kernel still reads it is only reused by later work on that stream: stream order keeps
//   it safe without events.
// - The allocator is held by shared_ptr: every block's deleter holds one, so the allocator
//   (and what it caches) outlives the backend that made it. Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace sv {

struct MemoryStats {
  size_t in_use = 0;  // bytes in blocks held by live tensors (rounded sizes)
  size_t peak_in_use = 0;
  size_t reserved = 0;  // bytes obtained from RawMemory (in use + cached)
  size_t peak_reserved = 0;
  int64_t mallocs = 0;  // RawMemory::allocate calls that succeeded
  int64_t hits = 0;     // requests served from the cache
};

// Where a CachingAllocator's blocks come from: host memory, or one CUDA device's.
class RawMemory {
 public:
  virtual ~RawMemory() = default;
  // A block of `bytes` (a multiple of 512), or nullptr when out of memory. Other errors throw.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  // Throws the error of a request of `bytes` that failed even with the cache emptied.
  [[noreturn]] virtual void out_of_memory(size_t bytes, const MemoryStats& stats) const = 0;
};

// Host memory: 64-byte aligned blocks (std::aligned_alloc); out of memory throws sv::Error.
std::unique_ptr<RawMemory> host_memory();

class CachingAllocator : public std::enable_shared_from_this<CachingAllocator> {
 public:
  static std::shared_ptr<CachingAllocator> create(std::unique_ptr<RawMemory> raw, unsigned peak_multiple);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` whose deleter returns it to this cache.
  std::shared_ptr<void> allocate(size_t bytes);
  // Gives every cached (unused) block back to the RawMemory.
  void release_cached();
  MemoryStats stats() const;
  void reset_peaks();
  size_t cached() const;  // bytes in cached blocks

  static size_t bucket(size_t bytes);

 private:
  friend struct CachingAllocatorAccess;
  CachingAllocator(std::unique_ptr<RawMemory> raw, unsigned peak_multiple)
      : raw_(std::move(raw)), peak_multiple_(peak_multiple) {}
  void give_back(void* p, size_t bytes) noexcept;
  void release_cached_locked() noexcept;

  std::unique_ptr<RawMemory> raw_;
  unsigned peak_multiple_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> cache_;  // bucket size -> free blocks
  size_t cached_ = 0;
  size_t high_water_ = 0;  // most bytes ever in use at once (not reset by reset_peaks)
  MemoryStats stats_;
};

}  // namespace sv
