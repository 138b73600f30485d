// The kernel interface: everything an op needs from a device.
//
// One interface, three implementations: the CPU reference (plain loops, the oracle),
// the fast CPU path (im2col + BLAS, threads) and CUDA (cuDNN + cuBLAS). Ops in layers/
// call only these methods, so a graph runs unchanged on any backend.
//
// Conventions every implementation follows:
// - Tensors are contiguous NCHW. Results are freshly allocated unless the name ends in '_'.
// - "K-tiling": a gradient of an activation of shape (N, ...) that carries K cotangents is
//   stored K-stacked as (K*N, ...). Kernels that combine such a gradient with a saved
//   forward tensor of shape (N, ...) (relu mask, max-pool indices, batchnorm x_hat,
//   elementwise factors) apply the saved tensor to each of the K blocks; K is inferred as
//   grad.numel() / saved.numel(). The saved tensor is never copied K times.
// - The CPU backends support float32 and float64; CUDA supports float32.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "autodiff/tensor.h"

namespace sv {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dil_h = 1, dil_w = 1;
  int groups = 1;
};

struct Pool2dParams {
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg pool only
};

// Output sizes, shared by all backends (they also validate the parameters).
Shape conv2d_out_shape(const Shape& x, const Shape& w, const Conv2dParams& p);  // x (N,C,H,W), w (O,C/g,kh,kw)
// A convolution backward's check: the output shape of conv2d(x, w, p), which the gradient
// gy must have (ShapeError otherwise).
Shape conv2d_grad_shape(const Shape& gy, const Shape& x, const Shape& w, const Conv2dParams& p);
Shape pool2d_out_shape(const Shape& x, const Pool2dParams& p, const char* op);
// K of a K-stacked gradient g of a saved tensor m (see "K-tiling" above): g must be m's
// shape with dim 0 multiplied by K, not merely as many elements; an empty m (an empty
// batch) takes an empty g, K = 1. Else a ShapeError naming op and both shapes.
int64_t stacked_copies(const Shape& g, const Shape& m, const char* op);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;

  // ---- memory
  // Ops take only tensors the backend holds: host memory for the CPU backends, its own
  // device memory for a GPU backend (not another backend's, whose stream orders that
  // memory's work). Anything else is a ShapeError naming the op and the tensor.
  virtual bool holds(const Tensor& t) const { return t.defined() && t.device() == device(); }
  virtual Tensor empty(const Shape& shape, DType dtype) = 0;
  virtual Tensor zeros(const Shape& shape, DType dtype) = 0;
  // To this backend: shares a tensor it holds, else copies (a GPU backend also copies
  // another GPU backend's tensor, after waiting for the devices' work).
  virtual Tensor upload(const Tensor& t) = 0;
  virtual Tensor download(const Tensor& t) = 0;     // to the host (shares a host tensor)
  virtual void copy_(Tensor& dst, const Tensor& src) = 0;  // same numel and dtype, both held
  virtual void synchronize() {}

  // ---- elementwise (same dtype and device)
  virtual Tensor add(const Tensor& a, const Tensor& b) = 0;                 // a + b, same shape
  virtual void axpy_(Tensor& y, const Tensor& x, double alpha) = 0;         // y += alpha * x
  virtual Tensor scale(const Tensor& x, double s) = 0;                      // s * x
  virtual Tensor mul_tiled(const Tensor& g, const Tensor& m) = 0;           // g * m, m K-tiled over g
  // out[s*N + n] = x0[n] + t[s] * (x1[n] - x0[n]) for s < T: the batch of IG interpolation
  // points. x0, x1 (N, ...), t host vector of T values; result (T*N, ...).
  virtual Tensor interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) = 0;
  virtual Tensor sum_all(const Tensor& x) = 0;                              // shape ()
  // Sum over all but dim 0 of blocks: x (K*M) viewed as (K, M) -> (K,). Used for mean/sum backward too.
  virtual Tensor sum_blocks(const Tensor& x, int64_t K) = 0;
  // out (K*M) with out[k*M + i] = g[k] * s: broadcast a per-block scalar back (sum/mean backward).
  virtual Tensor broadcast_blocks(const Tensor& g, int64_t M, double s) = 0;

  // ---- convolution: x (N,C,H,W), w (O,C/groups,kh,kw), b (O) or undefined
  virtual Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) = 0;
  // gy (N',O,Ho,Wo) -> gx (N',C,H,W) where x_shape = (N',C,H,W); N' may be K*N.
  virtual Tensor conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                      const Conv2dParams& p) = 0;
  // x (N,C,H,W), gy (N,O,Ho,Wo) -> gw (O,C/groups,kh,kw)
  virtual Tensor conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                        const Conv2dParams& p) = 0;
  // relu(conv2d_forward(x, w, b, p)): a convolution with a (folded batchnorm's) bias and a
  // ReLU, which a backend may apply in one pass over the output. Default: the two calls.
  virtual Tensor conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
    return relu_forward(conv2d_forward(x, w, b, p));
  }
  // gy (N,C,H,W) or (N,C) -> (C): sum over everything but the channel (bias and beta gradients)
  virtual Tensor channel_sum(const Tensor& gy) = 0;

  // ---- batch normalization, x (N,C,H,W) or (N,C)
  // y = x * a[c] + b[c] (eval-mode batchnorm after folding running stats); b may be undefined.
  // With b undefined and x K-stacked it is also eval-mode batchnorm's backward.
  virtual Tensor channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) = 0;
  // Train mode: per-channel batch mean and biased variance; y = gamma * xhat + beta.
  // Writes mean (C), invstd (C) = 1/sqrt(var + eps), xhat (N,C,H,W). Returns y; var_unbiased for running stats.
  virtual Tensor batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                         Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) = 0;
  // gy (K*N,C,H,W) K-stacked; xhat (N,C,H,W). Per block k:
  //   gx = gamma*invstd/M * (M*gy - sum(gy) - xhat*sum(gy*xhat)), sums over (N,H,W) of block k, M = N*H*W.
  // ggamma = sum over all blocks of gy*xhat, gbeta = sum over all of gy (only meaningful for K = 1).
  virtual Tensor batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                          const Tensor& invstd, Tensor& ggamma, Tensor& gbeta) = 0;

  // ---- activations
  virtual Tensor relu_forward(const Tensor& x) = 0;
  // relu(a + b), a and b of one shape: a residual block's sum and ReLU, which a backend may
  // do in one pass. Its backward is relu_backward's, given to both inputs.
  virtual Tensor add_relu(const Tensor& a, const Tensor& b) { return relu_forward(add(a, b)); }
  // The same into a's memory (a's values are lost).
  virtual void add_relu_(Tensor& a, const Tensor& b) {
    const Tensor y = add_relu(a, b);
    copy_(a, y);
  }
  virtual Tensor relu_backward(const Tensor& gy, const Tensor& y) = 0;  // gy * (y > 0), y K-tiled

  // ---- pooling, x (N,C,H,W)
  // Max pool; indices (N,C,Ho,Wo) int32 hold the flat h*W+w of the chosen input (first max wins).
  // Padding is -inf (torch semantics).
  virtual Tensor maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) = 0;
  // gy (K*N,C,Ho,Wo), indices K-tiled -> gx (K*N,C,H,W), x_shape = (K*N,C,H,W)
  virtual Tensor maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape) = 0;
  virtual Tensor avgpool_forward(const Tensor& x, const Pool2dParams& p) = 0;
  virtual Tensor avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p) = 0;
  // torch.nn.AdaptiveAvgPool2d: bin i spans [floor(i*H/Ho), ceil((i+1)*H/Ho)).
  virtual Tensor adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) = 0;
  virtual Tensor adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape) = 0;

  // ---- dense: x (N,in), w (out,in), b (out) or undefined
  virtual Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) = 0;  // x w^T + b
  virtual Tensor linear_backward_data(const Tensor& gy, const Tensor& w) = 0;            // gy w
  virtual Tensor linear_backward_weight(const Tensor& x, const Tensor& gy) = 0;          // gy^T x

  // ---- loss: logits (N,classes), labels (N) int32 on the same device.
  // Returns the mean negative log-likelihood, shape (); writes probs (N,classes).
  virtual Tensor softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) = 0;
  // g (K) per-block upstream scalars -> (K*N, classes): g[k] * (probs - onehot) / N
  virtual Tensor softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels) = 0;
};

}  // namespace sv
