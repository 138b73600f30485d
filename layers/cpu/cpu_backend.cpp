#include "layers/cpu/cpu_backend.h"

#include <cstring>

#include "layers/cpu/reference.h"

namespace sv {

namespace {
void check_host(const Tensor& t, const char* op) {
  SV_CHECK(!t.defined() || t.is_cpu(), ShapeError, std::string(op) + ": tensor is on cuda, backend is cpu");
}
}  // namespace

CpuBackend::CpuBackend(bool reference, int threads) : reference_(reference), threads_(threads) {}

Tensor CpuBackend::empty(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype); }
Tensor CpuBackend::zeros(const Shape& shape, DType dtype) { return Tensor::zeros(shape, dtype); }
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
           "copy: " + shape_str(src.shape()) + " " + dtype_name(src.dtype()) + " into " + shape_str(dst.shape()) +
               " " + dtype_name(dst.dtype()));
  std::memmove(dst.raw(), src.raw(), src.nbytes());
}

Tensor CpuBackend::add(const Tensor& a, const Tensor& b) { return ref::add(a, b); }
void CpuBackend::axpy_(Tensor& y, const Tensor& x, double alpha) { ref::axpy_(y, x, alpha); }
Tensor CpuBackend::scale(const Tensor& x, double s) { return ref::scale(x, s); }
Tensor CpuBackend::mul_tiled(const Tensor& g, const Tensor& m) { return ref::mul_tiled(g, m); }
Tensor CpuBackend::interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) {
  return ref::interpolate(x0, x1, t);
}
Tensor CpuBackend::sum_all(const Tensor& x) { return ref::sum_all(x); }
Tensor CpuBackend::sum_blocks(const Tensor& x, int64_t K) { return ref::sum_blocks(x, K); }
Tensor CpuBackend::broadcast_blocks(const Tensor& g, int64_t M, double s) { return ref::broadcast_blocks(g, M, s); }

Tensor CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  return ref::conv2d_forward(x, w, b, p);
}
Tensor CpuBackend::conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                        const Conv2dParams& p) {
  return ref::conv2d_backward_data(gy, w, x_shape, p);
}
Tensor CpuBackend::conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const Conv2dParams& p) {
  return ref::conv2d_backward_filter(x, gy, w_shape, p);
}
Tensor CpuBackend::channel_sum(const Tensor& gy) { return ref::channel_sum(gy); }

Tensor CpuBackend::channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  return ref::channel_affine(x, a, b);
}
Tensor CpuBackend::batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                           Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  return ref::batchnorm_train_forward(x, gamma, beta, eps, mean, var_unbiased, invstd, xhat);
}
Tensor CpuBackend::batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                            const Tensor& invstd, Tensor& ggamma, Tensor& gbeta) {
  return ref::batchnorm_train_backward(gy, xhat, gamma, invstd, ggamma, gbeta);
}

Tensor CpuBackend::relu_forward(const Tensor& x) { return ref::relu_forward(x); }
Tensor CpuBackend::relu_backward(const Tensor& gy, const Tensor& y) { return ref::relu_backward(gy, y); }

Tensor CpuBackend::maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  return ref::maxpool_forward(x, p, indices);
}
Tensor CpuBackend::maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape) {
  return ref::maxpool_backward(gy, indices, x_shape);
}
Tensor CpuBackend::avgpool_forward(const Tensor& x, const Pool2dParams& p) { return ref::avgpool_forward(x, p); }
Tensor CpuBackend::avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p) {
  return ref::avgpool_backward(gy, x_shape, p);
}
Tensor CpuBackend::adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) {
  return ref::adaptive_avgpool_forward(x, out_h, out_w);
}
Tensor CpuBackend::adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape) {
  return ref::adaptive_avgpool_backward(gy, x_shape);
}

Tensor CpuBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  return ref::linear_forward(x, w, b);
}
Tensor CpuBackend::linear_backward_data(const Tensor& gy, const Tensor& w) { return ref::linear_backward_data(gy, w); }
Tensor CpuBackend::linear_backward_weight(const Tensor& x, const Tensor& gy) {
  return ref::linear_backward_weight(x, gy);
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
