#include "layers/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "layers/cpu/fast.h"
#include "layers/cpu/reference.h"

namespace sv {

namespace {
void check_host(const Tensor& t, const char* op) {
  SV_CHECK(!t.defined() || t.is_cpu(), ShapeError,
           std::string(op) + ": a " + t.describe() + " tensor was given to the cpu backend (download it first)");
}
}  // namespace

CpuBackend::CpuBackend(bool reference, int threads) : CpuBackend(reference, fast::Parallel{threads, 0, 0, nullptr}) {}

CpuBackend::CpuBackend(bool reference, const fast::Parallel& par) : reference_(reference), par_(par) {
  par_.threads = fast::resolve_threads(par.threads);
  if (par_.min_elements <= 0) par_.min_elements = fast::kMinElementsPerThread;
  if (par_.min_macs <= 0) par_.min_macs = fast::kMinMacsPerThread;
  if (!reference_ && par_.threads > 1) pool_ = std::make_unique<fast::WorkerPool>(par_.threads);
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
Tensor CpuBackend::upload(const Tensor& host) {
  check_host(host, "upload");
  return host;
}
Tensor CpuBackend::download(const Tensor& t) {
  check_host(t, "download");
  return t;
}
void CpuBackend::copy_(Tensor& dst, const Tensor& src) {
  check_host(dst, "copy");
  check_host(src, "copy");
  SV_CHECK(dst.numel() == src.numel() && dst.dtype() == src.dtype(), ShapeError,
           "copy: " + shape_str(src.shape()) + " " + dtype_name(src.dtype()) + " into " + shape_str(dst.shape()) + " " +
               dtype_name(dst.dtype()));
  std::memmove(dst.raw(), src.raw(), src.nbytes());
}

Tensor CpuBackend::add(const Tensor& a, const Tensor& b) { return reference_ ? ref::add(a, b) : fast::add(par_, a, b); }
void CpuBackend::axpy_(Tensor& y, const Tensor& x, double alpha) {
  if (reference_)
    ref::axpy_(y, x, alpha);
  else
    fast::axpy_(par_, y, x, alpha);
}
Tensor CpuBackend::scale(const Tensor& x, double s) { return reference_ ? ref::scale(x, s) : fast::scale(par_, x, s); }
Tensor CpuBackend::mul_tiled(const Tensor& g, const Tensor& m) {
  return reference_ ? ref::mul_tiled(g, m) : fast::mul_tiled(par_, g, m);
}
Tensor CpuBackend::interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) {
  return ref::interpolate(x0, x1, t);
}
Tensor CpuBackend::sum_all(const Tensor& x) { return ref::sum_all(x); }
Tensor CpuBackend::sum_blocks(const Tensor& x, int64_t K) { return ref::sum_blocks(x, K); }
Tensor CpuBackend::broadcast_blocks(const Tensor& g, int64_t M, double s) { return ref::broadcast_blocks(g, M, s); }

Tensor CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  return reference_ ? ref::conv2d_forward(x, w, b, p) : fast::conv2d_forward(fwd_par_, x, w, b, p);
}
Tensor CpuBackend::conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  if (reference_) return Backend::conv2d_relu_forward(x, w, b, p);
  return fast::conv2d_forward(fwd_par_, x, w, b, p, /*relu=*/true);
}
Tensor CpuBackend::conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                        const Conv2dParams& p) {
  return reference_ ? ref::conv2d_backward_data(gy, w, x_shape, p)
                    : fast::conv2d_backward_data(par_, gy, w, x_shape, p);
}
Tensor CpuBackend::conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const Conv2dParams& p) {
  return reference_ ? ref::conv2d_backward_filter(x, gy, w_shape, p)
                    : fast::conv2d_backward_filter(par_, x, gy, w_shape, p);
}
Tensor CpuBackend::channel_sum(const Tensor& gy) {
  return reference_ ? ref::channel_sum(gy) : fast::channel_sum(par_, gy);
}

Tensor CpuBackend::channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  return reference_ ? ref::channel_affine(x, a, b) : fast::channel_affine(par_, x, a, b);
}
Tensor CpuBackend::batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                           Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  return reference_ ? ref::batchnorm_train_forward(x, gamma, beta, eps, mean, var_unbiased, invstd, xhat)
                    : fast::batchnorm_train_forward(par_, x, gamma, beta, eps, mean, var_unbiased, invstd, xhat);
}
Tensor CpuBackend::batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                            const Tensor& invstd, Tensor& ggamma, Tensor& gbeta) {
  return reference_ ? ref::batchnorm_train_backward(gy, xhat, gamma, invstd, ggamma, gbeta)
                    : fast::batchnorm_train_backward(par_, gy, xhat, gamma, invstd, ggamma, gbeta);
}

Tensor CpuBackend::relu_forward(const Tensor& x) {
  return reference_ ? ref::relu_forward(x) : fast::relu_forward(par_, x);
}
Tensor CpuBackend::relu_backward(const Tensor& gy, const Tensor& y) {
  return reference_ ? ref::relu_backward(gy, y) : fast::relu_backward(par_, gy, y);
}

Tensor CpuBackend::maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  return reference_ ? ref::maxpool_forward(x, p, indices) : fast::maxpool_forward(par_, x, p, indices);
}
Tensor CpuBackend::maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape) {
  return reference_ ? ref::maxpool_backward(gy, indices, x_shape) : fast::maxpool_backward(par_, gy, indices, x_shape);
}
Tensor CpuBackend::avgpool_forward(const Tensor& x, const Pool2dParams& p) {
  return reference_ ? ref::avgpool_forward(x, p) : fast::avgpool_forward(par_, x, p);
}
Tensor CpuBackend::avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p) {
  return reference_ ? ref::avgpool_backward(gy, x_shape, p) : fast::avgpool_backward(par_, gy, x_shape, p);
}
Tensor CpuBackend::adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) {
  return reference_ ? ref::adaptive_avgpool_forward(x, out_h, out_w)
                    : fast::adaptive_avgpool_forward(par_, x, out_h, out_w);
}
Tensor CpuBackend::adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape) {
  return reference_ ? ref::adaptive_avgpool_backward(gy, x_shape) : fast::adaptive_avgpool_backward(par_, gy, x_shape);
}

Tensor CpuBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  return reference_ ? ref::linear_forward(x, w, b) : fast::linear_forward(fwd_par_, x, w, b);
}
Tensor CpuBackend::linear_backward_data(const Tensor& gy, const Tensor& w) {
  return reference_ ? ref::linear_backward_data(gy, w) : fast::linear_backward_data(par_, gy, w);
}
Tensor CpuBackend::linear_backward_weight(const Tensor& x, const Tensor& gy) {
  return reference_ ? ref::linear_backward_weight(x, gy) : fast::linear_backward_weight(par_, x, gy);
}

Tensor CpuBackend::softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) {
  return ref::softmax_xent_forward(logits, labels, probs);
}
Tensor CpuBackend::softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels) {
  return ref::softmax_xent_backward(g, probs, labels);
}

std::unique_ptr<Backend> make_cpu_backend(bool reference, int threads) {
  return std::make_unique<CpuBackend>(reference, threads);
}

}  // namespace sv
