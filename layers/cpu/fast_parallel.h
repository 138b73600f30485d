// Threads for the fast CPU kernels: one OpenMP helper, so that no kernel carries pragmas.
//
// parallel_for(threads, n, grain, f) splits [0, n) into at most `threads` contiguous
// ranges of at least `grain` items and calls f(begin, end) on each, in parallel when
// OpenMP is built in. Ranges are disjoint: a kernel that writes only its own range
// needs no synchronization. Built without OpenMP it calls f(0, n) once.
// parallel_dynamic(threads, n, f) calls f(i, thread) for each i, handing the items out one
// at a time to whichever thread is free: for a few large items, it keeps the threads busy
// when one of them is slowed down (by an uneven item or another process on its core).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace sv::fast {

// Below these amounts of work per thread (about a millisecond), starting threads costs
// more than it saves. An idle machine would split smaller work profitably, but where other
// processes hold the cores, each fork-join waits for a thread to be scheduled: measured on
// the 2-core development machine under load, many small parallel regions made a small
// ResNet's forward + backward 30x slower than one thread.
constexpr int64_t kMinElementsPerThread = 1 << 20;  // memory-bound loops, in elements
constexpr int64_t kMinMacsPerThread = 1 << 25;      // GEMM, in multiply-adds

// The grain (items per thread) for items of `per_item` work each.
inline int64_t grain_for(int64_t per_item, int64_t min_work) {
  return std::max<int64_t>(1, min_work / std::max<int64_t>(per_item, 1));
}

// How a fast kernel may split its work: over up to `threads` threads, in pieces of at
// least min_elements elements (memory-bound loops) or min_macs multiply-adds (GEMM).
// Tests lower the minimums to run the threaded paths on small tensors.
struct Parallel {
  int threads = 1;
  int64_t min_elements = kMinElementsPerThread;
  int64_t min_macs = kMinMacsPerThread;
  int64_t elements_grain(int64_t per_item) const { return grain_for(per_item, min_elements); }
  int64_t macs_grain(int64_t per_item) const { return grain_for(per_item, min_macs); }
};

// The number of threads a backend built with `requested` (<= 0: all) should use.
inline int resolve_threads(int requested) {
#ifdef _OPENMP
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

template <class F>
void parallel_for(int threads, int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, n / std::max<int64_t>(grain, 1)));
  if (parts == 1) {
    f(int64_t{0}, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast <int>(parts))
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) f(begin, end);
  }
#else
  f(int64_t{0}, n);
#endif
}

template <class F>
void parallel_dynamic(int threads, int64_t n, F&& f) {
  const int t = static_cast<int>(std::min<int64_t>(threads, n));
  if (t <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i, 0);
    return;
  }
#ifdef _OPENMP
  std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(t)
  {
    const int me = omp_get_thread_num();
    for (int64_t i = next++; i < n; i = next++) f(i, me);
  }
#else
  for (int64_t i = 0; i < n; ++i) f(i, 0);
#endif
}

}  // namespace sv::fast
