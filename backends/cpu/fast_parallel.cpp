// The help-first worker pool of the fast CPU kernels (see fast_parallel.h).
#include "backends/cpu/fast_parallel.h"

#include <cstring>

namespace sv::fast {

Tensor Parallel::empty(const Shape& shape, DType dtype) const {
  if (!memory) return Tensor::empty(shape, dtype);
  return Tensor(memory->allocate(shape_bytes(shape, dtype)), shape, dtype, Device::CPU);
}

Tensor Parallel::zeros(const Shape& shape, DType dtype) const {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

WorkerPool::WorkerPool(int threads) {
  for (int w = 1; w < threads; ++w) helpers_.emplace_back([this, w] { helper(w); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void WorkerPool::work(Job& job, int worker) {
  for (int64_t i = job.next.fetch_add(1); i < job.n; i = job.next.fetch_add(1)) {
    (*job.f)(i, worker);
    if (job.done.fetch_add(1) + 1 == job.n) job.done.notify_all();
  }
}

void WorkerPool::run(int64_t n, const std::function<void(int64_t, int)>& f) {
  if (helpers_.empty() || n <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i, 0);
    return;
  }
  // A run() from inside an item, or from a second thread sharing the backend, runs inline.
  std::unique_lock<std::mutex> one_at_a_time(run_mutex_, std::try_to_lock);
  if (!one_at_a_time.owns_lock()) {
    for (int64_t i = 0; i < n; ++i) f(i, 0);
    return;
  }
  auto job = std::make_shared<Job>();
  job->f = &f;
  job->n = n;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = job;
    ++generation_;
  }
  wake_.notify_all();
  work(*job, 0);
  // Every item is taken; wait for the ones helpers are still working on. A helper that
  // wakes up later finds next >= n and leaves f alone.
  for (int64_t d = job->done.load(); d < n; d = job->done.load()) job->done.wait(d);
  std::lock_guard<std::mutex> lock(mutex_);
  job_.reset();
}

void WorkerPool::helper(int worker) {
  uint64_t seen = 0;
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    if (job) work(*job, worker);
  }
}

}  // namespace sv::fast
