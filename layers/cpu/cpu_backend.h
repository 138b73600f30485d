// The CPU backends: reference (plain loops, layers/cpu/reference.h, single-threaded) and
// fast (im2col + BLAS GEMM and a pool of threads, layers/cpu/fast.h). The kernels that have no
// fast version (interpolate, reductions to scalars, softmax) are the reference ones in both.
#pragma once
#include <memory>

#include "autodiff/backend.h"
#include "layers/cpu/fast_parallel.h"

namespace sv {

class CpuBackend : public Backend {
 public:
  // threads: how many the fast kernels use; <= 0 means one per core.
  explicit CpuBackend(bool reference, int threads = 0);
  // With explicit work splitting (tests run the threaded paths on small tensors with it):
  // par.threads <= 0 means one per core, min_* <= 0 the defaults; par.pool is ignored (the
  // backend owns its pool).
  CpuBackend(bool reference, const fast::Parallel& par);
  Device device() const override { return Device::CPU; }
  std::string name() const override { return reference_ ? "cpu-reference" : "cpu"; }
  bool reference() const { return reference_; }

  // From the backend's caching allocator (autodiff/caching_allocator.h; host policy: the
  // cache stays within twice the most memory ever in use at once), like every fast
  // kernel's result.
  Tensor empty(const Shape& shape, DType dtype) override;
  Tensor zeros(const Shape& shape, DType dtype) override;
  MemoryStats memory_stats() const;
  // Gives the allocator's cached blocks back to the system (tensors stay valid).
  void release_cached_memory() { memory_->release_cached(); }
  Tensor upload(const Tensor& host) override;
  Tensor download(const Tensor& t) override;
  void copy_(Tensor& dst, const Tensor& src) override;

  Tensor add(const Tensor& a, const Tensor& b) override;
  void axpy_(Tensor& y, const Tensor& x, double alpha) override;
  Tensor scale(const Tensor& x, double s) override;
  Tensor mul_tiled(const Tensor& g, const Tensor& m) override;
  Tensor interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) override;
  Tensor sum_all(const Tensor& x) override;
  Tensor sum_blocks(const Tensor& x, int64_t K) override;
  Tensor broadcast_blocks(const Tensor& g, int64_t M, double s) override;

  Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) override;
  Tensor conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) override;
  Tensor conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p) override;
  Tensor conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                const Conv2dParams& p) override;
  Tensor channel_sum(const Tensor& gy) override;

  Tensor channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) override;
  Tensor batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& mean,
                                 Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) override;
  Tensor batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma, const Tensor& invstd,
                                  Tensor& ggamma, Tensor& gbeta) override;

  Tensor relu_forward(const Tensor& x) override;
  Tensor relu_backward(const Tensor& gy, const Tensor& y) override;

  Tensor maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) override;
  Tensor maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape) override;
  Tensor avgpool_forward(const Tensor& x, const Pool2dParams& p) override;
  Tensor avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p) override;
  Tensor adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) override;
  Tensor adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape) override;

  Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) override;
  Tensor linear_backward_data(const Tensor& gy, const Tensor& w) override;
  Tensor linear_backward_weight(const Tensor& x, const Tensor& gy) override;

  Tensor softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) override;
  Tensor softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels) override;

 private:
  bool reference_;
  std::shared_ptr<CachingAllocator> memory_ = CachingAllocator::create(host_memory(), /*peak_multiple=*/2);
  std::unique_ptr<fast::WorkerPool> pool_;  // the fast kernels' helper threads
  fast::Parallel par_;
  fast::Parallel fwd_par_;  // par_ with k_slice = forward_k_slice (forward passes)
};

}  // namespace sv
