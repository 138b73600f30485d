// The fast CPU kernels: convolution and linear through im2col + BLAS GEMM, the hot
// elementwise, pooling and per-channel kernels split over threads (fast_parallel.h).
// Semantics of each kernel: the Backend method of the same name (autodiff/backend.h);
// each is tested against its reference in backends/reference/reference.h. float32 and float64.
// `par` says how many threads a kernel may use and how finely it may split its work.
#pragma once
#include "autodiff/backend.h"
#include "backends/cpu/fast_parallel.h"
#include "backends/cpu/fast_winograd.h"  // conv2d_winograd, winograd_applies: 3x3 stride-1 convs

namespace sv::fast {

// ---- convolution (fast_conv.cpp): im2col + GEMM, a few images per GEMM; 3x3 stride 1 with
//      enough channels: Winograd F(2x2, 3x3) (fast_winograd.cpp)
// relu: max(y, 0) in the same epilogue as the bias, while a tile is in cache.
Tensor conv2d_forward(const Parallel& par, const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                      bool relu = false);
Tensor conv2d_backward_data(const Parallel& par, const Tensor& gy, const Tensor& w, const Shape& x_shape,
                            const Conv2dParams& p);
Tensor conv2d_backward_filter(const Parallel& par, const Tensor& x, const Tensor& gy, const Shape& w_shape,
                              const Conv2dParams& p);

// ---- dense (fast_dense.cpp): GEMM, rows split over threads
Tensor linear_forward(const Parallel& par, const Tensor& x, const Tensor& w, const Tensor& b);
Tensor linear_backward_data(const Parallel& par, const Tensor& gy, const Tensor& w);
Tensor linear_backward_weight(const Parallel& par, const Tensor& x, const Tensor& gy);

// ---- elementwise (fast_elementwise.cpp)
Tensor relu_forward(const Parallel& par, const Tensor& x);
Tensor relu_backward(const Parallel& par, const Tensor& gy, const Tensor& y, int64_t K);
Tensor add(const Parallel& par, const Tensor& a, const Tensor& b);
void axpy_(const Parallel& par, Tensor& y, const Tensor& x, double alpha);
Tensor scale(const Parallel& par, const Tensor& x, double s);
Tensor mul_tiled(const Parallel& par, const Tensor& g, const Tensor& m, int64_t K);

// ---- per channel (fast_norm.cpp)
Tensor channel_sum(const Parallel& par, const Tensor& gy);
Tensor channel_affine(const Parallel& par, const Tensor& x, const Tensor& a, const Tensor& b);
Tensor batchnorm_train_forward(const Parallel& par, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               double eps, Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat);
Tensor batchnorm_train_backward(const Parallel& par, const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                const Tensor& invstd, int64_t K, Tensor& ggamma, Tensor& gbeta);

// ---- pooling (fast_pool.cpp): planes (n, c) split over threads
Tensor maxpool_forward(const Parallel& par, const Tensor& x, const Pool2dParams& p, Tensor& indices);
Tensor maxpool_backward(const Parallel& par, const Tensor& gy, const Tensor& indices, const Shape& x_shape,
                        int64_t K);
Tensor avgpool_forward(const Parallel& par, const Tensor& x, const Pool2dParams& p);
Tensor avgpool_backward(const Parallel& par, const Tensor& gy, const Shape& x_shape, const Pool2dParams& p);
Tensor adaptive_avgpool_forward(const Parallel& par, const Tensor& x, int out_h, int out_w);
Tensor adaptive_avgpool_backward(const Parallel& par, const Tensor& gy, const Shape& x_shape);

}  // namespace sv::fast
