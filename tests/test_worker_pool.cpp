// FastPath: the worker pool behind the fast CPU backend's threaded kernels. (The kernels
// themselves are compared with the reference, on 1, 2 and 3 threads, by the op table of
// tests/test_backend_ops.cpp.)
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "backends/cpu/fast_parallel.h"

namespace sv::test {

// The pool behind the threaded paths: every item runs exactly once, on a worker id below
// the thread count, over many consecutive runs; a nested run() runs inline.
TEST(FastPath, WorkerPoolRunsEveryItemOnce) {
  for (int threads : {2, 3}) {
    fast::WorkerPool pool(threads);
    ASSERT_EQ(pool.threads(), threads);
    for (int64_t n : {1, 2, 7, 1000}) {
      for (int rep = 0; rep < 20; ++rep) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad_worker{0};
        pool.run(n, [&](int64_t i, int worker) {
          hits[static_cast<size_t>(i)]++;
          if (worker < 0 || worker >= threads) bad_worker++;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "item " << i;
        ASSERT_EQ(bad_worker.load(), 0);
      }
    }
    std::atomic<int> inner{0};
    pool.run(4, [&](int64_t, int) { pool.run(5, [&](int64_t, int) { inner++; }); });
    EXPECT_EQ(inner.load(), 20);
  }
}

}  // namespace sv::test
