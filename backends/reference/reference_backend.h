// The CPU reference backend: every op as plain loops (backends/reference/reference.h),
// single-threaded, float32 and float64. It is the oracle the fast CPU path and CUDA are
// tested against, and the fallback of any op a faster backend does not implement: a
// backend derived from it overrides only the ops it makes faster.
#pragma once
#include <string>

#include "autodiff/backend.h"

namespace sv {

class ReferenceBackend : public Backend {
 public:
  Device device() const override { return Device::CPU; }
  std::string name() const override { return "cpu-reference"; }

  Tensor empty(const Shape& shape, DType dtype) override;
  Tensor zeros(const Shape& shape, DType dtype) override;
  Tensor upload(const Tensor& host) override;    // shares a host tensor
  Tensor download(const Tensor& t) override;     // shares a host tensor
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
};

}  // namespace sv
