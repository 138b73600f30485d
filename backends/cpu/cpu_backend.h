// The fast CPU backend: im2col + BLAS GEMM, Winograd, and a pool of threads
// (backends/cpu/fast.h). It supports the ops it makes faster (supports_op); the others
// (interpolate, reductions to scalars and blocks, softmax cross-entropy) run on its
// fallback, the reference backend, on the same host tensors (nothing is copied).
#pragma once
#include <memory>

#include "backends/reference/reference_backend.h"
#include "backends/cpu/fast_parallel.h"

namespace sv {

class CpuBackend : public Backend {
 public:
  // threads: how many the fast kernels use; <= 0 means one per core.
  explicit CpuBackend(int threads = 0);
  // With explicit work splitting (tests run the threaded paths on small tensors with it):
  // par.threads <= 0 means one per core, min_* <= 0 the defaults; par.pool is ignored (the
  // backend owns its pool).
  explicit CpuBackend(const fast::Parallel& par);
  Device device() const override { return Device::CPU; }
  std::string name() const override { return "cpu"; }

  // From the backend's caching allocator (autodiff/caching_allocator.h; host policy: the
  // cache stays within twice the most memory ever in use at once), like every fast
  // kernel's result.
  Tensor empty(const Shape& shape, DType dtype) override;
  Tensor zeros(const Shape& shape, DType dtype) override;
  MemoryStats memory_stats() const;
  // Gives the allocator's cached blocks back to the system (tensors stay valid).
  void release_cached_memory() { memory_->release_cached(); }

  bool supports_op(Op op) const override;

  Tensor upload(const Tensor& host) override;  // shares a host tensor
  Tensor download(const Tensor& t) override;   // shares a host tensor
  void copy_(Tensor& dst, const Tensor& src) override;

 protected:
  Tensor do_add(const Tensor& a, const Tensor& b) override;
  void do_axpy_(Tensor& y, const Tensor& x, double alpha) override;
  Tensor do_scale(const Tensor& x, double s) override;
  Tensor do_mul_tiled(const Tensor& g, const Tensor& m, int64_t K) override;

  Tensor do_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) override;
  Tensor do_conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                                    const Conv2dParams& p) override;
  Tensor do_conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p,
                                     int64_t K) override;
  Tensor do_conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                       const Conv2dParams& p) override;
  Tensor do_channel_sum(const Tensor& gy) override;

  Tensor do_channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) override;
  Tensor do_batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                        Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) override;
  Tensor do_batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                         const Tensor& invstd, int64_t K, Tensor& ggamma, Tensor& gbeta) override;

  Tensor do_relu_forward(const Tensor& x) override;
  Tensor do_relu_backward(const Tensor& gy, const Tensor& y, int64_t K) override;

  Tensor do_maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) override;
  Tensor do_maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape, int64_t K) override;
  Tensor do_avgpool_forward(const Tensor& x, const Pool2dParams& p) override;
  Tensor do_avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p, int64_t K) override;
  Tensor do_adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) override;
  Tensor do_adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape, int64_t K) override;

  Tensor do_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) override;
  Tensor do_linear_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, int64_t K) override;
  Tensor do_linear_backward_weight(const Tensor& x, const Tensor& gy) override;

 private:
  std::shared_ptr<CachingAllocator> memory_ = CachingAllocator::create(host_memory(), /*peak_multiple=*/2);
  std::unique_ptr<fast::WorkerPool> pool_;  // the fast kernels' helper threads
  fast::Parallel par_;
  fast::Parallel fwd_par_;  // par_ with k_slice = forward_k_slice (forward passes)
};

}  // namespace sv
