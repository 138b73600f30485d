#include "autodiff/caching_allocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <string>

#include "autodiff/error.h"

namespace sv {

namespace {
constexpr size_t kSmall = size_t(1) << 20;  // 1 MiB
constexpr size_t kSmallStep = 512;
constexpr size_t kLargeMinStep = size_t(2) << 20;  // 2 MiB

std::string mib(size_t b) { return std::to_string(b >> 20) + " MiB"; }

class HostMemory final : public RawMemory {
 public:
  void* allocate(size_t bytes) override { return std::aligned_alloc(64, bytes); }
  void release(void* p) noexcept override { std::free(p); }
  [[noreturn]] void out_of_memory(size_t bytes, const MemoryStats& s) const override {
    throw Error("out of host memory: cannot allocate " + std::to_string(bytes) + " bytes (" + mib(bytes) + "); " +
                mib(s.in_use) + " in use by tensors");
  }
};

// Returns a block to its allocator; holds the allocator alive.
struct BlockDeleter {
  std::shared_ptr<CachingAllocator> owner;
  size_t bytes;
  void operator()(void* p) const;
};
}  // namespace

std::unique_ptr<RawMemory> host_memory() { return std::make_unique<HostMemory>(); }

// The deleter's way back into the allocator's private give_back.
struct CachingAllocatorAccess {
  static void give_back(CachingAllocator& a, void* p, size_t bytes) noexcept { a.give_back(p, bytes); }
};

namespace {
void BlockDeleter::operator()(void* p) const { CachingAllocatorAccess::give_back(*owner, p, bytes); }
}  // namespace

std::shared_ptr<CachingAllocator> CachingAllocator::create(std::unique_ptr<RawMemory> raw, unsigned peak_multiple) {
  SV_CHECK(raw != nullptr, ValueError, "CachingAllocator: no memory to allocate from");
  return std::shared_ptr<CachingAllocator>(new CachingAllocator(std::move(raw), peak_multiple));
}

CachingAllocator::~CachingAllocator() {
  // Runs when the last block and the backend are gone; never throws.
  release_cached_locked();
}

size_t CachingAllocator::bucket(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes < kSmall) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  size_t step = std::max(kLargeMinStep, std::bit_floor(bytes) / 32);
  return (bytes + step - 1) / step * step;
}

std::shared_ptr<void> CachingAllocator::allocate(size_t bytes) {
  const size_t size = bucket(bytes);
  void* p = nullptr;
  size_t got = size;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // This bucket, or one at most 1/16 larger (large blocks only).
    const size_t slack = size < kSmall ? 0 : size / 16;
    for (auto it = cache_.lower_bound(size); it != cache_.end() && it->first <= size + slack; ++it) {
      if (it->second.empty()) continue;
      p = it->second.back();
      it->second.pop_back();
      got = it->first;
      cached_ -= got;
      ++stats_.hits;
      break;
    }
    if (!p) {
      p = raw_->allocate(size);
      if (!p) {
        release_cached_locked();
        p = raw_->allocate(size);
      }
      if (!p) raw_->out_of_memory(size, stats_);
      ++stats_.mallocs;
      stats_.reserved += size;
      stats_.peak_reserved = std::max(stats_.peak_reserved, stats_.reserved);
    }
    stats_.in_use += got;
    stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
    high_water_ = std::max(high_water_, stats_.in_use);
  }
  // Should the control block fail to allocate, shared_ptr runs the deleter: p goes back.
  return std::shared_ptr<void>(p, BlockDeleter{shared_from_this(), got});
}

void CachingAllocator::give_back(void* p, size_t bytes) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.in_use -= bytes;
  if (peak_multiple_ == 0 || cached_ + bytes <= peak_multiple_ * high_water_) {
    try {
      cache_[bytes].push_back(p);
      cached_ += bytes;
      return;
    } catch (...) {  // no host memory for the cache's bookkeeping: release the block instead
    }
  }
  stats_.reserved -= bytes;
  raw_->release(p);
}

void CachingAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() noexcept {
  for (auto& [size, blocks] : cache_) {
    for (void* p : blocks) {
      raw_->release(p);
      stats_.reserved -= size;
    }
  }
  cache_.clear();
  cached_ = 0;
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t CachingAllocator::cached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}

void CachingAllocator::reset_peaks() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_in_use = stats_.in_use;
  stats_.peak_reserved = stats_.reserved;
}

}  // namespace sv
