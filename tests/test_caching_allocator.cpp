// CachingAllocator (autodiff/caching_allocator.h) over a counting fake memory: buckets,
// reuse within a bucket's slack, the out-of-memory retry with the cache emptied, the
// host's cap on cached bytes, the allocator outliving its owner, many threads; and the
// CPU backend's tensors from it (alignment, zeros on reused blocks).
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

#include "autodiff/caching_allocator.h"
#include "backends/cpu/cpu_backend.h"
#include "tests/gradcheck.h"

namespace sv::test {

namespace {
struct Counts {
  int64_t allocs = 0, releases = 0;
  size_t outstanding = 0;           // bytes allocated and not released
  size_t limit = SIZE_MAX;          // allocate() fails beyond this many outstanding bytes
  std::set<size_t> sizes;           // sizes asked for
};

// Memory from malloc that counts what it hands out and can run out.
class FakeMemory final : public RawMemory {
 public:
  explicit FakeMemory(std::shared_ptr<Counts> c) : c_(std::move(c)) {}
  void* allocate(size_t bytes) override {
    if (c_->outstanding + bytes > c_->limit) return nullptr;
    c_->allocs++;
    c_->outstanding += bytes;
    c_->sizes.insert(bytes);
    void* p = std::malloc(bytes + sizeof(size_t));
    *static_cast<size_t*>(p) = bytes;
    return static_cast<size_t*>(p) + 1;
  }
  void release(void* p) noexcept override {
    size_t* base = static_cast<size_t*>(p) - 1;
    c_->releases++;
    c_->outstanding -= *base;
    std::free(base);
  }
  [[noreturn]] void out_of_memory(size_t bytes, const MemoryStats&) const override {
    throw Error("fake memory exhausted at " + std::to_string(bytes) + " bytes");
  }

 private:
  std::shared_ptr<Counts> c_;
};

struct Fixture {
  std::shared_ptr<Counts> counts = std::make_shared<Counts>();
  std::shared_ptr<CachingAllocator> alloc;
  explicit Fixture(unsigned peak_multiple = 0)
      : alloc(CachingAllocator::create(std::make_unique<FakeMemory>(counts), peak_multiple)) {}
};
constexpr size_t MiB = size_t(1) << 20;
}  // namespace

TEST(CachingAllocator, Buckets) {
  EXPECT_EQ(CachingAllocator::bucket(0), 512u);
  EXPECT_EQ(CachingAllocator::bucket(1), 512u);
  EXPECT_EQ(CachingAllocator::bucket(512), 512u);
  EXPECT_EQ(CachingAllocator::bucket(513), 1024u);
  EXPECT_EQ(CachingAllocator::bucket(MiB - 1), MiB);
  EXPECT_EQ(CachingAllocator::bucket(MiB), 2 * MiB);        // 2 MiB steps from 1 MiB
  EXPECT_EQ(CachingAllocator::bucket(5 * MiB + 1), 6 * MiB);
  EXPECT_EQ(CachingAllocator::bucket(1024 * MiB + 1), 1056 * MiB);  // 1 GiB / 32 = 32 MiB steps
  for (size_t b : {size_t(1), size_t(777), 3 * MiB + 5, 700 * MiB + 3}) {
    EXPECT_GE(CachingAllocator::bucket(b), b);
    EXPECT_LE(CachingAllocator::bucket(b), b + std::max<size_t>(2 * MiB, b / 16)) << b;
  }
}

TEST(CachingAllocator, ReusesFreedBlocksOfTheSameBucket) {
  Fixture f;
  void* first = nullptr;
  {
    std::shared_ptr<void> a = f.alloc->allocate(1000);
    first = a.get();
    EXPECT_EQ(f.alloc->stats().in_use, 1024u);
  }
  EXPECT_EQ(f.alloc->stats().in_use, 0u);
  EXPECT_EQ(f.alloc->cached(), 1024u);
  std::shared_ptr<void> b = f.alloc->allocate(900);  // same 1024-byte bucket
  EXPECT_EQ(b.get(), first);
  std::shared_ptr<void> c = f.alloc->allocate(900);  // the cached block is taken: a new one
  EXPECT_NE(c.get(), first);
  const MemoryStats s = f.alloc->stats();
  EXPECT_EQ(s.mallocs, 2);
  EXPECT_EQ(s.hits, 1);
  EXPECT_EQ(f.counts->allocs, 2);
  EXPECT_EQ(s.reserved, 2048u);
  EXPECT_EQ(s.peak_in_use, 2048u);
}

TEST(CachingAllocator, LargeRequestsTakeABlockAtMostOneSixteenthLarger) {
  Fixture f;
  void* p = nullptr;
  { p = f.alloc->allocate(64 * MiB).get(); }           // cached: a 64 MiB block
  std::shared_ptr<void> near = f.alloc->allocate(62 * MiB);  // 62 + 62/16 >= 64: reused
  EXPECT_EQ(near.get(), p);
  EXPECT_EQ(f.alloc->stats().in_use, 64 * MiB);  // counted at the block's size
  near.reset();
  std::shared_ptr<void> far = f.alloc->allocate(32 * MiB);  // 64 is too large for 32: new
  EXPECT_NE(far.get(), p);
  EXPECT_EQ(f.counts->allocs, 2);
  std::shared_ptr<void> small = f.alloc->allocate(600);  // small buckets take no slack
  EXPECT_EQ(f.counts->allocs, 3);
}

TEST(CachingAllocator, OutOfMemoryEmptiesTheCacheAndRetries) {
  Fixture f;
  f.counts->limit = 6 * MiB;
  { auto a = f.alloc->allocate(4 * MiB); }  // cached, 4 MiB outstanding
  EXPECT_EQ(f.alloc->cached(), 4 * MiB);
  auto b = f.alloc->allocate(2 * MiB + 1);  // bucket 4 MiB... reuses the cached one
  EXPECT_EQ(f.counts->allocs, 1);
  b.reset();
  auto c = f.alloc->allocate(5 * MiB);  // 6 MiB bucket: 4 + 6 > 6, so the cache is released first
  EXPECT_EQ(f.counts->releases, 1);
  EXPECT_EQ(f.alloc->cached(), 0u);
  EXPECT_EQ(f.alloc->stats().reserved, 6 * MiB);
  try {
    auto d = f.alloc->allocate(1 * MiB);  // 6 + 2 > 6 even with an empty cache
    FAIL() << "expected out of memory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fake memory exhausted at 2097152 bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.alloc->stats().in_use, 6 * MiB);  // the failure changed nothing
}

TEST(CachingAllocator, PeakMultipleBoundsTheCache) {
  Fixture f(/*peak_multiple=*/1);
  { auto a = f.alloc->allocate(4096); }  // high water 4096: cached (4096 <= 1 x 4096)
  EXPECT_EQ(f.alloc->cached(), 4096u);
  { auto b = f.alloc->allocate(8192); }  // high water 8192; 4096 + 8192 > 8192: released
  EXPECT_EQ(f.alloc->cached(), 4096u);
  EXPECT_EQ(f.counts->releases, 1);
  EXPECT_EQ(f.alloc->stats().reserved, 4096u);
  f.alloc->release_cached();
  EXPECT_EQ(f.counts->releases, 2);
  EXPECT_EQ(f.counts->outstanding, 0u);

  Fixture g(/*peak_multiple=*/0);  // unbounded: both stay
  { auto a = g.alloc->allocate(4096); }
  { auto b = g.alloc->allocate(8192); }
  EXPECT_EQ(g.alloc->cached(), 4096u + 8192u);
}

TEST(CachingAllocator, BlocksOutliveTheirOwnerAndEverythingIsReleased) {
  auto counts = std::make_shared<Counts>();
  std::shared_ptr<void> kept;
  {
    auto alloc = CachingAllocator::create(std::make_unique<FakeMemory>(counts), 0);
    kept = alloc->allocate(3000);
    { auto other = alloc->allocate(5000); }
  }  // the owner is gone; `kept` holds the allocator alive
  EXPECT_EQ(counts->releases, 0);
  std::memset(kept.get(), 7, 3000);  // still valid memory
  kept.reset();                      // last reference: the allocator releases both blocks
  EXPECT_EQ(counts->releases, 2);
  EXPECT_EQ(counts->outstanding, 0u);
}

TEST(CachingAllocator, ManyThreads) {
  Fixture f;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto a = f.alloc->allocate(512 * (1 + (i + t) % 7));
        auto b = f.alloc->allocate(1000);
        static_cast<char*>(a.get())[0] = 1;
      }
    });
  for (auto& th : threads) th.join();
  const MemoryStats s = f.alloc->stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.reserved, f.alloc->cached());
  EXPECT_LE(s.mallocs, 4 * 2 * 7);  // at most two blocks per thread per size in flight
  EXPECT_EQ(s.hits + s.mallocs, 4 * 2000 * 2);
}

TEST(CachingAllocator, CpuBackendTensorsAreAlignedAndZerosAreZeroOnReuse) {
  CpuBackend be(2);
  void* p = nullptr;
  {
    Tensor t = be.empty({1000, 257}, DType::F32);
    p = t.raw();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    std::memset(t.raw(), 0xff, t.nbytes());  // NaN bit patterns
  }
  Tensor z = be.zeros({1000, 257}, DType::F32);
  EXPECT_EQ(z.raw(), p);  // the same block came back
  for (int64_t i = 0; i < z.numel(); ++i) ASSERT_EQ(z.data<float>()[i], 0.f) << i;
  // Results of the fast kernels come from the same allocator.
  Tensor r = be.relu_forward(z);
  EXPECT_GT(be.memory_stats().hits, 0);
  EXPECT_EQ(be.memory_stats().in_use, 2 * CachingAllocator::bucket(z.nbytes()));
  { Tensor dropped = be.empty({3000}, DType::F32); }
  EXPECT_GT(be.memory_stats().reserved, be.memory_stats().in_use);
  be.release_cached_memory();  // cached blocks go back; live tensors stay
  EXPECT_EQ(be.memory_stats().reserved, be.memory_stats().in_use);
  EXPECT_EQ(r.data<float>()[0], 0.f);
}

}  // namespace sv::test
