#include "backends/reference/reference_backend.h"

#include "backends/reference/reference.h"

namespace sv {

Tensor ReferenceBackend::empty(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype); }
Tensor ReferenceBackend::zeros(const Shape& shape, DType dtype) { return Tensor::zeros(shape, dtype); }
Tensor ReferenceBackend::upload(const Tensor& host) { return ref::host_share(host, "upload"); }
Tensor ReferenceBackend::download(const Tensor& t) { return ref::host_share(t, "download"); }
void ReferenceBackend::copy_(Tensor& dst, const Tensor& src) { ref::host_copy(dst, src); }

Tensor ReferenceBackend::do_add(const Tensor& a, const Tensor& b) { return ref::add(a, b); }
void ReferenceBackend::do_axpy_(Tensor& y, const Tensor& x, double alpha) { ref::axpy_(y, x, alpha); }
Tensor ReferenceBackend::do_scale(const Tensor& x, double s) { return ref::scale(x, s); }
Tensor ReferenceBackend::do_mul_tiled(const Tensor& g, const Tensor& m, int64_t K) {
  return ref::mul_tiled(g, m, K);
}
Tensor ReferenceBackend::do_interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) {
  return ref::interpolate(x0, x1, t);
}
Tensor ReferenceBackend::do_sum_all(const Tensor& x) { return ref::sum_all(x); }
Tensor ReferenceBackend::do_sum_blocks(const Tensor& x, int64_t K) { return ref::sum_blocks(x, K); }
Tensor ReferenceBackend::do_broadcast_blocks(const Tensor& g, int64_t M, double s, int64_t) {
  return ref::broadcast_blocks(g, M, s);
}

Tensor ReferenceBackend::do_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                                               const Conv2dParams& p) {
  return ref::conv2d_forward(x, w, b, p);
}
Tensor ReferenceBackend::do_conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                                     const Conv2dParams& p, int64_t K) {
  return ref::conv2d_backward_data(gy, w, fold_k(x_shape, K), p);
}
Tensor ReferenceBackend::do_conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                                       const Conv2dParams& p) {
  return ref::conv2d_backward_filter(x, gy, w_shape, p);
}
Tensor ReferenceBackend::do_channel_sum(const Tensor& gy) { return ref::channel_sum(gy); }

Tensor ReferenceBackend::do_channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  return ref::channel_affine(x, a, b);
}
Tensor ReferenceBackend::do_batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                                        double eps, Tensor& mean, Tensor& var_unbiased,
                                                        Tensor& invstd, Tensor& xhat) {
  return ref::batchnorm_train_forward(x, gamma, beta, eps, mean, var_unbiased, invstd, xhat);
}
Tensor ReferenceBackend::do_batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                                         const Tensor& invstd, int64_t K, Tensor& ggamma,
                                                         Tensor& gbeta) {
  return ref::batchnorm_train_backward(gy, xhat, gamma, invstd, K, ggamma, gbeta);
}

Tensor ReferenceBackend::do_relu_forward(const Tensor& x) { return ref::relu_forward(x); }
Tensor ReferenceBackend::do_relu_backward(const Tensor& gy, const Tensor& y, int64_t K) {
  return ref::relu_backward(gy, y, K);
}

Tensor ReferenceBackend::do_maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  return ref::maxpool_forward(x, p, indices);
}
Tensor ReferenceBackend::do_maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape,
                                                 int64_t K) {
  return ref::maxpool_backward(gy, indices, fold_k(x_shape, K), K);
}
Tensor ReferenceBackend::do_avgpool_forward(const Tensor& x, const Pool2dParams& p) {
  return ref::avgpool_forward(x, p);
}
Tensor ReferenceBackend::do_avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p,
                                                 int64_t K) {
  return ref::avgpool_backward(gy, fold_k(x_shape, K), p);
}
Tensor ReferenceBackend::do_adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) {
  return ref::adaptive_avgpool_forward(x, out_h, out_w);
}
Tensor ReferenceBackend::do_adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape, int64_t K) {
  return ref::adaptive_avgpool_backward(gy, fold_k(x_shape, K));
}

Tensor ReferenceBackend::do_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  return ref::linear_forward(x, w, b);
}
Tensor ReferenceBackend::do_linear_backward_data(const Tensor& gy, const Tensor& w, const Shape&, int64_t) {
  return ref::linear_backward_data(gy, w);
}
Tensor ReferenceBackend::do_linear_backward_weight(const Tensor& x, const Tensor& gy) {
  return ref::linear_backward_weight(x, gy);
}

Tensor ReferenceBackend::do_softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) {
  return ref::softmax_xent_forward(logits, labels, probs);
}
Tensor ReferenceBackend::do_softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels,
                                                      int64_t) {
  return ref::softmax_xent_backward(g, probs, labels);
}

}  // namespace sv
