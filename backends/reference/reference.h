// The CPU reference kernels: plain loops anyone can check by eye. They are the oracle
// that the fast CPU path and the CUDA path are tested against. float32 and float64.
// Convolutions and linear layers accumulate their sums in double and round once, whatever
// the tensors' dtype, so that a float32 oracle is as accurate as float32 storage allows
// (in float, a sum over thousands of terms made its gradients twice as far from float64 as
// PyTorch's; tests/test_trained_accuracy.cpp).
// Semantics of each kernel: see the Backend method of the same name (autodiff/backend.h).
#pragma once
#include "autodiff/backend.h"

namespace sv::ref {

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);
Tensor conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p);
Tensor conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape, const Conv2dParams& p);

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b);
Tensor linear_backward_data(const Tensor& gy, const Tensor& w);
Tensor linear_backward_weight(const Tensor& x, const Tensor& gy);

Tensor maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices);
// x_shape: the gradient's, (K*N,C,H,W); indices (N,C,Ho,Wo) apply to each of the K blocks
Tensor maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape, int64_t K);
Tensor avgpool_forward(const Tensor& x, const Pool2dParams& p);
Tensor avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p);
Tensor adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w);
Tensor adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape);

Tensor channel_sum(const Tensor& gy);
Tensor channel_affine(const Tensor& x, const Tensor& a, const Tensor& b);
Tensor batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& mean,
                               Tensor& var_unbiased, Tensor& invstd, Tensor& xhat);
Tensor batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma, const Tensor& invstd,
                                int64_t K, Tensor& ggamma, Tensor& gbeta);

Tensor relu_forward(const Tensor& x);
Tensor relu_backward(const Tensor& gy, const Tensor& y, int64_t K);
Tensor add(const Tensor& a, const Tensor& b);
void axpy_(Tensor& y, const Tensor& x, double alpha);
Tensor scale(const Tensor& x, double s);
Tensor mul_tiled(const Tensor& g, const Tensor& m, int64_t K);
Tensor interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t);
Tensor sum_all(const Tensor& x);
Tensor sum_blocks(const Tensor& x, int64_t K);
Tensor broadcast_blocks(const Tensor& g, int64_t M, double s);

Tensor softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs);
Tensor softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels);

// The host memory ops of the CPU backends: a host tensor shared (ShapeError naming op for
// device memory), and a copy between host tensors of one size and dtype.
Tensor host_share(const Tensor& t, const char* op);
void host_copy(Tensor& dst, const Tensor& src);

// g is m stacked exactly K times, of m's dtype and device: else ShapeError naming op.
void check_tiled(const Tensor& g, const Tensor& m, int64_t K, const char* op);

}  // namespace sv::ref
