#include "backends/reference/reference_backend.h"

#include <cstring>

#include "backends/reference/reference.h"

namespace sv {

namespace {
void check_host(const Tensor& t, const char* op) {
  SV_CHECK(!t.defined() || t.is_cpu(), ShapeError,
           std::string(op) + ": a " + t.describe() + " tensor was given to a cpu backend (download it first)");
}
}  // namespace

Tensor ReferenceBackend::empty(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype); }
Tensor ReferenceBackend::zeros(const Shape& shape, DType dtype) { return Tensor::zeros(shape, dtype); }
Tensor ReferenceBackend::upload(const Tensor& host) {
  check_host(host, "upload");
  return host;
}
Tensor ReferenceBackend::download(const Tensor& t) {
  check_host(t, "download");
  return t;
}
void ReferenceBackend::copy_(Tensor& dst, const Tensor& src) {
  check_host(dst, "copy");
  check_host(src, "copy");
  SV_CHECK(dst.numel() == src.numel() && dst.dtype() == src.dtype(), ShapeError,
           "copy: " + shape_str(src.shape()) + " " + dtype_name(src.dtype()) + " into " + shape_str(dst.shape()) + " " +
               dtype_name(dst.dtype()));
  std::memmove(dst.raw(), src.raw(), src.nbytes());
}

Tensor ReferenceBackend::add(const Tensor& a, const Tensor& b) { return ref::add(a, b); }
void ReferenceBackend::axpy_(Tensor& y, const Tensor& x, double alpha) { ref::axpy_(y, x, alpha); }
Tensor ReferenceBackend::scale(const Tensor& x, double s) { return ref::scale(x, s); }
Tensor ReferenceBackend::mul_tiled(const Tensor& g, const Tensor& m) { return ref::mul_tiled(g, m); }
Tensor ReferenceBackend::interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) {
  return ref::interpolate(x0, x1, t);
}
Tensor ReferenceBackend::sum_all(const Tensor& x) { return ref::sum_all(x); }
Tensor ReferenceBackend::sum_blocks(const Tensor& x, int64_t K) { return ref::sum_blocks(x, K); }
Tensor ReferenceBackend::broadcast_blocks(const Tensor& g, int64_t M, double s) {
  return ref::broadcast_blocks(g, M, s);
}

Tensor ReferenceBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  return ref::conv2d_forward(x, w, b, p);
}
Tensor ReferenceBackend::conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                              const Conv2dParams& p) {
  return ref::conv2d_backward_data(gy, w, x_shape, p);
}
Tensor ReferenceBackend::conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                                const Conv2dParams& p) {
  return ref::conv2d_backward_filter(x, gy, w_shape, p);
}
Tensor ReferenceBackend::channel_sum(const Tensor& gy) { return ref::channel_sum(gy); }

Tensor ReferenceBackend::channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  return ref::channel_affine(x, a, b);
}
Tensor ReferenceBackend::batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                                 Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  return ref::batchnorm_train_forward(x, gamma, beta, eps, mean, var_unbiased, invstd, xhat);
}
Tensor ReferenceBackend::batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                                  const Tensor& invstd, Tensor& ggamma, Tensor& gbeta) {
  return ref::batchnorm_train_backward(gy, xhat, gamma, invstd, ggamma, gbeta);
}

Tensor ReferenceBackend::relu_forward(const Tensor& x) { return ref::relu_forward(x); }
Tensor ReferenceBackend::relu_backward(const Tensor& gy, const Tensor& y) { return ref::relu_backward(gy, y); }

Tensor ReferenceBackend::maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  return ref::maxpool_forward(x, p, indices);
}
Tensor ReferenceBackend::maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape) {
  return ref::maxpool_backward(gy, indices, x_shape);
}
Tensor ReferenceBackend::avgpool_forward(const Tensor& x, const Pool2dParams& p) { return ref::avgpool_forward(x, p); }
Tensor ReferenceBackend::avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p) {
  return ref::avgpool_backward(gy, x_shape, p);
}
Tensor ReferenceBackend::adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) {
  return ref::adaptive_avgpool_forward(x, out_h, out_w);
}
Tensor ReferenceBackend::adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape) {
  return ref::adaptive_avgpool_backward(gy, x_shape);
}

Tensor ReferenceBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  return ref::linear_forward(x, w, b);
}
Tensor ReferenceBackend::linear_backward_data(const Tensor& gy, const Tensor& w) {
  return ref::linear_backward_data(gy, w);
}
Tensor ReferenceBackend::linear_backward_weight(const Tensor& x, const Tensor& gy) {
  return ref::linear_backward_weight(x, gy);
}

Tensor ReferenceBackend::softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) {
  return ref::softmax_xent_forward(logits, labels, probs);
}
Tensor ReferenceBackend::softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels) {
  return ref::softmax_xent_backward(g, probs, labels);
}

}  // namespace sv
