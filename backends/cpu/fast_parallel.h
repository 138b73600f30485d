// Threads for the fast CPU kernels: a small pool owned by the backend, and two loops.
//
// parallel_for(par, n, grain, f) splits [0, n) into at most par.threads contiguous ranges
// of at least `grain` items and calls f(begin, end) on each. Ranges are disjoint: a kernel
// that writes only its own range needs no synchronization.
// parallel_dynamic(par, n, f) calls f(i, worker) for each i in [0, n), handing the items
// out one at a time to whichever thread is free; worker in [0, par.threads) names the
// thread (for per-thread scratch).
//
// Why not OpenMP: an OpenMP parallel region ends when every thread of its team has
// arrived, also a thread that found no work because it was not yet running. On the 2-core
// development machine, with other processes holding the cores, that wait was a scheduler
// time slice (3-5 ms) per region: a 1x1 convolution took 8 ms on 2 threads and 3 ms on
// one, the K-stacked backward of a small ResNet 89 ms against 39 ms. The pool below is
// help-first instead: the calling thread works through the items itself, helpers join in
// as they wake up, and run() waits only for items a helper has actually taken.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "autodiff/caching_allocator.h"
#include "autodiff/tensor.h"

namespace sv::fast {

// Below these amounts of work per thread (about a millisecond), starting threads costs
// more than it saves.
constexpr int64_t kMinElementsPerThread = 1 << 20;  // memory-bound loops, in elements
constexpr int64_t kMinMacsPerThread = 1 << 25;      // GEMM, in multiply-adds

// The grain (items per thread) for items of `per_item` work each.
inline int64_t grain_for(int64_t per_item, int64_t min_work) {
  return std::max<int64_t>(1, min_work / std::max<int64_t>(per_item, 1));
}

// The number of threads a backend built with `requested` (<= 0: all cores) should use.
inline int resolve_threads(int requested) {
  return requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// threads - 1 helper threads that sleep until run() hands them items. One run() at a time:
// a run() while another is in progress (nested, or from a second thread) runs inline.
class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  int threads() const { return static_cast<int>(helpers_.size()) + 1; }
  // Calls f(i, worker) for every i in [0, n); the caller is worker 0. Returns when all are done.
  void run(int64_t n, const std::function<void(int64_t, int)>& f);

 private:
  struct Job {
    const std::function<void(int64_t, int)>* f;
    int64_t n;
    std::atomic<int64_t> next{0}, done{0};
  };
  static void work(Job& job, int worker);
  void helper(int worker);

  std::mutex run_mutex_;  // one run() at a time
  std::mutex mutex_;      // guards job_, generation_, stop_
  std::condition_variable wake_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::vector<std::thread> helpers_;
};

// How a fast kernel may split its work: over up to `threads` threads (the pool's, which
// has exactly that many when threads > 1), in pieces of at least min_elements elements
// (memory-bound loops) or min_macs multiply-adds (GEMM). Tests lower the minimums to run
// the threaded paths on small tensors. Results and scratch come from `memory`, the
// backend's caching allocator (plain Tensor::empty when null). winograd: 3x3 stride-1
// convolutions may take the Winograd path (fast_winograd.h); tests turn it off to keep the
// im2col path covered.
struct Parallel {
  int threads = 1;
  int64_t min_elements = kMinElementsPerThread;
  int64_t min_macs = kMinMacsPerThread;
  WorkerPool* pool = nullptr;
  CachingAllocator* memory = nullptr;
  bool winograd = true;
  // Float GEMMs (im2col, Winograd, linear) sum K in equal slices of at most k_slice terms,
  // each slice a fresh OpenBLAS accumulator (fast_gemm.h); 0: all of K in one call (OpenBLAS's
  // order: faster, less exact). The kernels read k_slice; CpuBackend passes forward_k_slice in
  // it for forward passes. Defaults (docs/accuracy.md): slices of 48 for data gradients, which
  // keeps input gradients on trained weights within 1.5x PyTorch float32's error against
  // float64; none forward, where slicing did not change those gradients (the forward values
  // only choose ReLU and max-pool branches) and cost up to 12%. Weight-gradient GEMMs are
  // never sliced. CpuBackend reads SHAREDVIS_CPU_K_SLICE into k_slice.
  static constexpr int64_t kDefaultKSlice = 48;
  int64_t k_slice = kDefaultKSlice;
  int64_t forward_k_slice = 0;
  Tensor empty(const Shape& shape, DType dtype) const;
  Tensor zeros(const Shape& shape, DType dtype) const;
  int64_t elements_grain(int64_t per_item) const { return grain_for(per_item, min_elements); }
  int64_t macs_grain(int64_t per_item) const { return grain_for(per_item, min_macs); }
  Parallel serial() const {
    Parallel p = *this;
    p.threads = 1;
    return p;
  }
};

template <class F>
void parallel_for(const Parallel& par, int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(par.threads, n / std::max<int64_t>(grain, 1)));
  if (parts == 1 || par.pool == nullptr) {
    f(int64_t{0}, n);
    return;
  }
  par.pool->run(parts, [&](int64_t t, int) { f(n * t / parts, n * (t + 1) / parts); });
}

template <class F>
void parallel_dynamic(const Parallel& par, int64_t n, F&& f) {
  if (par.threads <= 1 || par.pool == nullptr || n <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i, 0);
    return;
  }
  par.pool->run(n, [&](int64_t i, int worker) { f(i, worker); });
}

}  // namespace sv::fast
