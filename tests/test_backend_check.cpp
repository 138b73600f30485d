// BackendCheck: the self-check that make_backend runs before it trusts a GPU
// (backends/backend_check.h), exercised on CPU backends: the comparison itself, the fast CPU
// path passing it, and deliberately wrong backends failing it with the op named. Also: a
// device tensor handed to the CPU backend is refused (host memory labelled as a device
// tensor stands in for one here; tests/test_cuda_device.cpp does it with real ones).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "backends/backend_check.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/factory.h"
#include "tests/gradcheck.h"

namespace sv::test {
namespace {

Tensor vec(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector(v, {n});
}

TEST(BackendCheck, CompareAcceptsRoundingAndRejectsRealDifferences) {
  const Tensor want = vec({1.f, -2.f, 4.f});
  EXPECT_EQ(compare_to_reference(want, want, 0), "");
  EXPECT_EQ(compare_to_reference(vec({1.f, -2.f, 4.0003f}), want, 1e-4), "");  // 3e-4 <= 1e-4 * 4
  const std::string far = compare_to_reference(vec({1.f, -2.f, 4.001f}), want, 1e-4);
  EXPECT_NE(far.find("element 2"), std::string::npos) << far;
  EXPECT_NE(compare_to_reference(vec({1.f, -2.f}), want, 1).find("shape (2,)"), std::string::npos);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_NE(compare_to_reference(vec({1.f, nan, 4.f}), want, 1e9).find("nan"), std::string::npos);
  EXPECT_NE(compare_to_reference(vec({inf, -2.f, 4.f}), want, 1e9).find("inf"), std::string::npos);
  // An all-zero reference must be matched exactly; any dtype compares by value.
  EXPECT_NE(compare_to_reference(vec({0.f, 1e-30f}), vec({0.f, 0.f}), 1e-4), "");
  EXPECT_EQ(compare_to_reference(vec({0.f, 0.f}).to(DType::F64), vec({0.f, 0.f}), 0), "");
}

TEST(BackendCheck, FastCpuPassesAgainstTheReference) {
  auto fast = make_cpu_backend(false), ref = make_cpu_backend(true);
  const BackendCheck r = check_backend(*fast, *ref);
  EXPECT_TRUE(r.passed) << r.failure;
  EXPECT_GE(r.comparisons, 25);
  std::printf("fast CPU self-check: %d comparisons in %.3f s\n", r.comparisons, r.seconds);
}

// A CPU backend with one kernel broken the way a GPU kernel can be.
enum class Fault { ConvFilterScaled, ReluNaN, LinearThrows, MaxpoolIgnoresK };
class FaultyBackend : public CpuBackend {
 public:
  explicit FaultyBackend(Fault f) : CpuBackend(), fault_(f) {}

 protected:
  Tensor do_conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                   const Conv2dParams& p) override {
    Tensor gw = CpuBackend::do_conv2d_backward_filter(x, gy, w_shape, p);
    return fault_ == Fault::ConvFilterScaled ? scale(gw, 1.05) : gw;
  }
  Tensor do_relu_forward(const Tensor& x) override {
    Tensor y = CpuBackend::do_relu_forward(x);
    if (fault_ == Fault::ReluNaN) y.data<float>()[y.numel() / 2] = std::numeric_limits<float>::quiet_NaN();
    return y;
  }
  Tensor do_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) override {
    SV_CHECK(fault_ != Fault::LinearThrows, DeviceError, "cublasSgemm failed: CUBLAS_STATUS_EXECUTION_FAILED");
    return CpuBackend::do_linear_forward(x, w, b);
  }
  Tensor do_maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape, int64_t K) override {
    if (fault_ != Fault::MaxpoolIgnoresK) return CpuBackend::do_maxpool_backward(gy, indices, x_shape, K);
    // Routes the second cotangent through the first one's gradient: a K-tiling bug.
    const int64_t half = gy.dim(0) / 2;
    Tensor g0 = CpuBackend::do_maxpool_backward(gy.slice0(0, half).clone(), indices, x_shape, K / 2);
    Tensor out = zeros(fold_k(x_shape, K), gy.dtype());
    Tensor lo = out.slice0(0, half), hi = out.slice0(half, 2 * half);
    copy_(lo, g0);
    copy_(hi, g0);
    return out;
  }

 private:
  Fault fault_;
};

TEST(BackendCheck, NamesTheBrokenOp) {
  auto ref = make_cpu_backend(true);
  const std::pair<Fault, const char*> faults[] = {{Fault::ConvFilterScaled, "conv2d 3x3 backward, output 1"},
                                                  {Fault::ReluNaN, "relu, output 0: element"},
                                                  {Fault::LinearThrows, "linear: cublasSgemm failed"},
                                                  {Fault::MaxpoolIgnoresK, "maxpool2d 3x3 stride 2, output 2"}};
  for (const auto& [fault, expected] : faults) {
    FaultyBackend bad(fault);
    const BackendCheck r = check_backend(bad, *ref);
    EXPECT_FALSE(r.passed) << expected;
    EXPECT_NE(r.failure.find(expected), std::string::npos) << r.failure;
  }
}

TEST(BackendCheck, AutoWithoutAGpuRunsOnTheCpu) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present: CudaSelfCheck covers auto there";
  EXPECT_EQ(make_backend("auto")->device(), Device::CPU);
  EXPECT_THROW(make_backend("cuda"), DeviceError);
}

// Host memory labelled as a CUDA tensor: what a CPU kernel would receive if a device
// tensor leaked into it. Every access is refused before any memory is touched.
Tensor fake_device_tensor(const Shape& s) {
  const size_t bytes = shape_bytes(s, DType::F32);
  return Tensor(std::shared_ptr<void>(std::calloc(1, bytes), std::free), s, DType::F32, Device::CUDA, 0,
                reinterpret_cast<const void*>(0x1));
}

TEST(BackendCheck, CpuBackendRefusesDeviceTensors) {
  const Tensor d = fake_device_tensor({2, 3, 4, 4});
  const Tensor h = Tensor::zeros({2, 3, 4, 4}), w = Tensor::zeros({5, 3, 3, 3});
  for (bool reference : {true, false}) {
    auto cpu = make_cpu_backend(reference);
    Tensor idx;
    EXPECT_THROW(cpu->relu_forward(d), ShapeError);
    EXPECT_THROW(cpu->add(h, d), ShapeError);
    EXPECT_THROW(cpu->conv2d_forward(d, w, Tensor(), Conv2dParams{}), ShapeError);
    EXPECT_THROW(cpu->maxpool_forward(d, Pool2dParams{}, idx), ShapeError);
    EXPECT_THROW(cpu->download(d), ShapeError);
    try {
      cpu->upload(d);
      ADD_FAILURE() << "upload of a device tensor accepted";
    } catch (const ShapeError& e) {
      EXPECT_NE(std::string(e.what()).find("cuda (2, 3, 4, 4) float32"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(d.data<float>(), ShapeError);
  EXPECT_THROW(d.clone(), Error);
}

}  // namespace
}  // namespace sv::test
