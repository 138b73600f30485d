#include "backends/cpu/cpu_backend.h"

#include <cstdlib>
#include <string>

#include "backends/cpu/fast.h"

namespace sv {

CpuBackend::CpuBackend(int threads) : CpuBackend(fast::Parallel{threads, 0, 0, nullptr}) {}

CpuBackend::CpuBackend(const fast::Parallel& par) : par_(par) {
  par_.threads = fast::resolve_threads(par.threads);
  if (par_.min_elements <= 0) par_.min_elements = fast::kMinElementsPerThread;
  if (par_.min_macs <= 0) par_.min_macs = fast::kMinMacsPerThread;
  if (par_.threads > 1) pool_ = std::make_unique<fast::WorkerPool>(par_.threads);
  par_.pool = pool_.get();
  par_.memory = memory_.get();
  if (const char* e = std::getenv("SHAREDVIS_CPU_K_SLICE"); e && *e) {
    char* end = nullptr;
    const long v = std::strtol(e, &end, 10);
    SV_CHECK(*end == 0 && v >= 0, ValueError,
             std::string("SHAREDVIS_CPU_K_SLICE=") + e + ": expected 0 (whole K: faster, less exact) or a slice length");
    par_.k_slice = v;
  }
  fwd_par_ = par_;
  fwd_par_.k_slice = par_.forward_k_slice;
}

Tensor CpuBackend::empty(const Shape& shape, DType dtype) { return par_.empty(shape, dtype); }
Tensor CpuBackend::zeros(const Shape& shape, DType dtype) { return par_.zeros(shape, dtype); }
MemoryStats CpuBackend::memory_stats() const { return memory_->stats(); }

Tensor CpuBackend::add(const Tensor& a, const Tensor& b) { return fast::add(par_, a, b); }
void CpuBackend::axpy_(Tensor& y, const Tensor& x, double alpha) {
  fast::axpy_(par_, y, x, alpha);
}
Tensor CpuBackend::scale(const Tensor& x, double s) { return fast::scale(par_, x, s); }
Tensor CpuBackend::mul_tiled(const Tensor& g, const Tensor& m) {
  return fast::mul_tiled(par_, g, m);
}

Tensor CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  return fast::conv2d_forward(fwd_par_, x, w, b, p);
}
Tensor CpuBackend::conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  return fast::conv2d_forward(fwd_par_, x, w, b, p, /*relu=*/true);
}
Tensor CpuBackend::conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                        const Conv2dParams& p) {
  return fast::conv2d_backward_data(par_, gy, w, x_shape, p);
}
Tensor CpuBackend::conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const Conv2dParams& p) {
  return fast::conv2d_backward_filter(par_, x, gy, w_shape, p);
}
Tensor CpuBackend::channel_sum(const Tensor& gy) {
  return fast::channel_sum(par_, gy);
}

Tensor CpuBackend::channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  return fast::channel_affine(par_, x, a, b);
}
Tensor CpuBackend::batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                           Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  return fast::batchnorm_train_forward(par_, x, gamma, beta, eps, mean, var_unbiased, invstd, xhat);
}
Tensor CpuBackend::batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                            const Tensor& invstd, Tensor& ggamma, Tensor& gbeta) {
  return fast::batchnorm_train_backward(par_, gy, xhat, gamma, invstd, ggamma, gbeta);
}

Tensor CpuBackend::relu_forward(const Tensor& x) {
  return fast::relu_forward(par_, x);
}
Tensor CpuBackend::relu_backward(const Tensor& gy, const Tensor& y) {
  return fast::relu_backward(par_, gy, y);
}

Tensor CpuBackend::maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  return fast::maxpool_forward(par_, x, p, indices);
}
Tensor CpuBackend::maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape) {
  return fast::maxpool_backward(par_, gy, indices, x_shape);
}
Tensor CpuBackend::avgpool_forward(const Tensor& x, const Pool2dParams& p) {
  return fast::avgpool_forward(par_, x, p);
}
Tensor CpuBackend::avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p) {
  return fast::avgpool_backward(par_, gy, x_shape, p);
}
Tensor CpuBackend::adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) {
  return fast::adaptive_avgpool_forward(par_, x, out_h, out_w);
}
Tensor CpuBackend::adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape) {
  return fast::adaptive_avgpool_backward(par_, gy, x_shape);
}

Tensor CpuBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  return fast::linear_forward(fwd_par_, x, w, b);
}
Tensor CpuBackend::linear_backward_data(const Tensor& gy, const Tensor& w) {
  return fast::linear_backward_data(par_, gy, w);
}
Tensor CpuBackend::linear_backward_weight(const Tensor& x, const Tensor& gy) {
  return fast::linear_backward_weight(par_, x, gy);
}


}  // namespace sv
