// CudaSelfCheck and CudaTensorDevice, on a real GPU: the self-check passes there and
// "auto" picks CUDA after it; a CUDA tensor handed to the CPU backend or to another CUDA
// backend is refused with a message naming it, never reused silently. Skipped, saying
// why, where no GPU is present (tests/test_backend_check.cpp covers the logic on the CPU).
#include <gtest/gtest.h>

#include <functional>

#include "backends/backend_check.h"
#include "backends/factory.h"
#include "layers/module.h"
#include "tests/gradcheck.h"
#ifdef SHAREDVIS_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace sv::test {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << no_cuda_reason()

TEST(CudaSelfCheck, PassesWithTheShippedAndTheStrictOptions) {
  SKIP_WITHOUT_GPU();
#ifdef SHAREDVIS_HAVE_CUDA
  auto ref = make_cpu_backend(true);
  for (bool strict : {false, true}) {
    CudaOptions o = CudaOptions::from_env();
    if (strict) o.deterministic = true, o.tf32 = false;
    auto gpu = make_cuda_backend(0, o);
    const BackendCheck r = check_backend(*gpu, *ref);
    EXPECT_TRUE(r.passed) << gpu->name() << ": " << r.failure;
    std::printf("self-check on %s: %d comparisons in %.3f s\n", gpu->name().c_str(), r.comparisons, r.seconds);
  }
#endif
}

TEST(CudaSelfCheck, AutoAndCudaPickTheGpu) {
  SKIP_WITHOUT_GPU();
  EXPECT_EQ(make_backend("auto")->device(), Device::CUDA);
  EXPECT_EQ(make_backend("cuda")->device(), Device::CUDA);
}

void expect_refused(const std::function<void()>& f, const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error containing '" << words << "'";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(CudaTensorDevice, CpuBackendRefusesCudaTensors) {
  SKIP_WITHOUT_GPU();
  auto gpu = make_test_gpu();
  auto cpu = make_cpu_backend(false);
  const Tensor h = randn({2, 3, 8, 8}, 1, DType::F32);
  const Tensor d = gpu->upload(h);
  Tensor idx;
  expect_refused([&] { cpu->relu_forward(d); }, "cuda (2, 3, 8, 8) float32");
  expect_refused([&] { cpu->add(h, d); }, "cuda");
  expect_refused([&] { cpu->conv2d_forward(d, Tensor::zeros({4, 3, 3, 3}), Tensor(), Conv2dParams{}); }, "cuda");
  expect_refused([&] { cpu->maxpool_forward(d, Pool2dParams{}, idx); }, "cuda");
  expect_refused([&] { cpu->download(d); }, "given to the cpu backend");
  expect_refused([&] { d.data<float>(); }, "download it first");
}

TEST(CudaTensorDevice, AnotherCudaBackendRefusesTheTensors) {
  SKIP_WITHOUT_GPU();
  auto a = make_test_gpu(), b = make_test_gpu();
  const Tensor h = randn({2, 3, 8, 8}, 2, DType::F32);
  const Tensor da = a->upload(h), db = b->upload(h);
  expect_refused([&] { b->relu_forward(da); }, "belongs to another CUDA backend");
  expect_refused([&] { b->add(db, da.slice0(0, 2)); }, "belongs to another CUDA backend");
  expect_refused([&] {
    Tensor dst = db;
    b->copy_(dst, da);
  }, "copy: the source");
  expect_refused([&] { b->conv2d_forward(db, a->upload(Tensor::zeros({4, 3, 3, 3})), Tensor(), Conv2dParams{}); },
                 "conv2d: weight");
  // Each backend still works on its own tensors.
  const Tensor ya = a->relu_forward(da);
  EXPECT_EQ(compare_to_reference(b->download(b->relu_forward(db)), a->download(ya), 0), "");
  // The transfers are explicit copies: b uploads (copies) a's tensor and can then use it;
  // b downloads a's tensor after a's stream is done with it.
  EXPECT_TRUE(a->holds(ya));
  EXPECT_FALSE(b->holds(ya));
  const Tensor yb = b->upload(ya);
  EXPECT_TRUE(b->holds(yb));
  EXPECT_NE(yb.raw(), ya.raw());
  EXPECT_EQ(compare_to_reference(b->download(yb), a->download(ya), 0), "");
  EXPECT_EQ(compare_to_reference(b->download(ya), a->download(ya), 0), "");
}

// A model moved between backends (model_to) goes through an explicit copy and then runs.
TEST(CudaTensorDevice, ModuleMovesBetweenCudaBackends) {
  SKIP_WITHOUT_GPU();
  auto a = make_test_gpu(), b = make_test_gpu();
  auto cpu = make_cpu_backend(true);
  Conv2d conv(3, 4, 3, Conv2dParams{}, true);
  init_params(conv, 7);
  const Tensor x = randn({2, 3, 6, 6}, 8, DType::F32);
  auto run = [&](Backend& be) {
    Graph g(be, false);
    Forward fw(g);
    return be.download(conv.forward(g.input(be.upload(x)), fw).value);
  };
  const Tensor want = run(*cpu);
  conv.to(*a);
  EXPECT_TRUE(a->holds(conv.weight.value));
  EXPECT_LE(mixed_error(run(*a), want, 1e-5, 1e-4), 1.0);
  EXPECT_THROW(run(*b), ShapeError);  // the weights are a's: refused, not reused
  conv.to(*b);
  EXPECT_TRUE(b->holds(conv.weight.value));
  EXPECT_LE(mixed_error(run(*b), want, 1e-5, 1e-4), 1.0);
}

}  // namespace
}  // namespace sv::test
