#include "backends/cpu/cpu_backend.h"

#include <cstdlib>
#include <string>

#include "backends/cpu/fast.h"
#include "backends/reference/reference.h"

namespace sv {

CpuBackend::CpuBackend(int threads) : CpuBackend(fast::Parallel{threads, 0, 0, nullptr}) {}

CpuBackend::CpuBackend(const fast::Parallel& par) : par_(par) {
  set_fallback(std::make_unique<ReferenceBackend>());
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

// The ops with a kernel of their own here (a new op is not among them until it gets one);
// the rest run on the reference, the fallback: interpolate, the sums to a scalar and to
// blocks, broadcast blocks, softmax cross-entropy.
bool CpuBackend::supports_op(Op op) const {
  return op_in(op, {Op::Add, Op::Axpy, Op::Scale, Op::MulTiled, Op::Conv2dForward, Op::Conv2dReluForward,
                    Op::Conv2dBackwardData, Op::Conv2dBackwardFilter, Op::ChannelSum, Op::ChannelAffine,
                    Op::BatchnormTrainForward, Op::BatchnormTrainBackward, Op::ReluForward, Op::ReluBackward,
                    Op::MaxpoolForward, Op::MaxpoolBackward, Op::AvgpoolForward, Op::AvgpoolBackward,
                    Op::AdaptiveAvgpoolForward, Op::AdaptiveAvgpoolBackward, Op::LinearForward,
                    Op::LinearBackwardData, Op::LinearBackwardWeight}) ||
         Backend::supports_op(op);  // the composite ops (add + relu: the default's two passes)
}

Tensor CpuBackend::upload(const Tensor& host) { return ref::host_share(host, "upload"); }
Tensor CpuBackend::download(const Tensor& t) { return ref::host_share(t, "download"); }
void CpuBackend::copy_(Tensor& dst, const Tensor& src) { ref::host_copy(dst, src); }

Tensor CpuBackend::empty(const Shape& shape, DType dtype) { return par_.empty(shape, dtype); }
Tensor CpuBackend::zeros(const Shape& shape, DType dtype) { return par_.zeros(shape, dtype); }
MemoryStats CpuBackend::memory_stats() const { return memory_->stats(); }

Tensor CpuBackend::do_add(const Tensor& a, const Tensor& b) { return fast::add(par_, a, b); }
void CpuBackend::do_axpy_(Tensor& y, const Tensor& x, double alpha) {
  fast::axpy_(par_, y, x, alpha);
}
Tensor CpuBackend::do_scale(const Tensor& x, double s) { return fast::scale(par_, x, s); }
Tensor CpuBackend::do_mul_tiled(const Tensor& g, const Tensor& m, int64_t K) {
  return fast::mul_tiled(par_, g, m, K);
}

Tensor CpuBackend::do_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  return fast::conv2d_forward(fwd_par_, x, w, b, p);
}
Tensor CpuBackend::do_conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  return fast::conv2d_forward(fwd_par_, x, w, b, p, /*relu=*/true);
}
Tensor CpuBackend::do_conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                               const Conv2dParams& p, int64_t K) {
  return fast::conv2d_backward_data(par_, gy, w, fold_k(x_shape, K), p);
}
Tensor CpuBackend::do_conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const Conv2dParams& p) {
  return fast::conv2d_backward_filter(par_, x, gy, w_shape, p);
}
Tensor CpuBackend::do_channel_sum(const Tensor& gy) {
  return fast::channel_sum(par_, gy);
}

Tensor CpuBackend::do_channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  return fast::channel_affine(par_, x, a, b);
}
Tensor CpuBackend::do_batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                           Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  return fast::batchnorm_train_forward(par_, x, gamma, beta, eps, mean, var_unbiased, invstd, xhat);
}
Tensor CpuBackend::do_batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                                   const Tensor& invstd, int64_t K, Tensor& ggamma, Tensor& gbeta) {
  return fast::batchnorm_train_backward(par_, gy, xhat, gamma, invstd, K, ggamma, gbeta);
}

Tensor CpuBackend::do_relu_forward(const Tensor& x) {
  return fast::relu_forward(par_, x);
}
Tensor CpuBackend::do_relu_backward(const Tensor& gy, const Tensor& y, int64_t K) {
  return fast::relu_backward(par_, gy, y, K);
}

Tensor CpuBackend::do_maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  return fast::maxpool_forward(par_, x, p, indices);
}
Tensor CpuBackend::do_maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape,
                                           int64_t K) {
  return fast::maxpool_backward(par_, gy, indices, fold_k(x_shape, K), K);
}
Tensor CpuBackend::do_avgpool_forward(const Tensor& x, const Pool2dParams& p) {
  return fast::avgpool_forward(par_, x, p);
}
Tensor CpuBackend::do_avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p,
                                           int64_t K) {
  return fast::avgpool_backward(par_, gy, fold_k(x_shape, K), p);
}
Tensor CpuBackend::do_adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) {
  return fast::adaptive_avgpool_forward(par_, x, out_h, out_w);
}
Tensor CpuBackend::do_adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape, int64_t K) {
  return fast::adaptive_avgpool_backward(par_, gy, fold_k(x_shape, K));
}

Tensor CpuBackend::do_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  return fast::linear_forward(fwd_par_, x, w, b);
}
Tensor CpuBackend::do_linear_backward_data(const Tensor& gy, const Tensor& w, const Shape&, int64_t) {
  return fast::linear_backward_data(par_, gy, w);
}
Tensor CpuBackend::do_linear_backward_weight(const Tensor& x, const Tensor& gy) {
  return fast::linear_backward_weight(par_, x, gy);
}


}  // namespace sv
