// The CPU reference backend: every op as plain loops (backends/reference/reference.h),
// single-threaded, float32 and float64. It supports every op of the table (autodiff/op.h).
// It is the oracle the fast CPU path and CUDA are tested against, and the fallback that
// runs any op a faster backend does not support (Backend::set_fallback).
#pragma once
#include <string>

#include "autodiff/backend.h"

namespace sv {

class ReferenceBackend : public Backend {
 public:
  Device device() const override { return Device::CPU; }
  std::string name() const override { return "cpu-reference"; }
  bool supports_op(Op) const override { return true; }

  Tensor empty(const Shape& shape, DType dtype) override;
  Tensor zeros(const Shape& shape, DType dtype) override;
  Tensor upload(const Tensor& host) override;    // shares a host tensor
  Tensor download(const Tensor& t) override;     // shares a host tensor
  void copy_(Tensor& dst, const Tensor& src) override;

 protected:
  Tensor do_add(const Tensor& a, const Tensor& b) override;
  void do_axpy_(Tensor& y, const Tensor& x, double alpha) override;
  Tensor do_scale(const Tensor& x, double s) override;
  Tensor do_mul_tiled(const Tensor& g, const Tensor& m, int64_t K) override;
  Tensor do_interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) override;
  Tensor do_sum_all(const Tensor& x) override;
  Tensor do_sum_blocks(const Tensor& x, int64_t K) override;
  Tensor do_broadcast_blocks(const Tensor& g, int64_t M, double s, int64_t K) override;

  Tensor do_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) override;
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

  Tensor do_softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) override;
  Tensor do_softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels, int64_t K) override;
};

}  // namespace sv
