// The kernel interface: everything an op needs from a device, and the seam between the
// engine and its backends.
//
// Every op is described once (autodiff/op.h: the op table; autodiff/shapes.h: its shape
// rule). Backend's public methods are not virtual: each checks its operands' shapes with
// the op's rule, then runs the backend's kernel when the backend supports the op
// (supports_op) and the CPU reference's otherwise ("Fallback" below). A backend implements
// the protected do_* methods of the ops it supports, nothing else; ops in layers/ call
// only the public methods, so a graph runs unchanged on the CPU reference, the fast CPU
// path or CUDA.
//
// Conventions every implementation follows:
// - Tensors are contiguous NCHW. Results are freshly allocated unless the name ends in '_'.
// - "K-stacking": a gradient of an activation of shape (N, ...) that carries K cotangents
//   is stored K-stacked as (K*N, ...). Ops that combine such a gradient with a saved
//   forward tensor of shape (N, ...) (relu mask, max-pool indices, batchnorm x_hat,
//   elementwise factors) take K as an argument, check that the gradient is exactly the
//   saved shape stacked K times (a ShapeError naming the op and both shapes otherwise:
//   no shape is coerced because its size fits), and apply the saved tensor to each of the
//   K blocks without copying it.
// - The CPU backends support float32 and float64; CUDA supports float32.
//
// Fallback: an op the backend does not support runs on its fallback backend, the CPU
// reference: the operands are downloaded (a host tensor is shared, not copied), the
// reference kernel runs, and the results are uploaded. The first time each op falls back
// on a backend, one line goes to the debug log (SHAREDVIS_LOG=debug, autodiff/log.h).
#pragma once
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/op.h"
#include "autodiff/shapes.h"
#include "autodiff/tensor.h"

namespace sv {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;

  // Whether this backend has its own kernel for op; the others run on the fallback.
  // Composite ops (op.h) are supported by every backend (their default is made of others).
  virtual bool supports_op(Op op) const { return op_info(op).composite; }
  // The backend that runs the ops this one does not support: the CPU reference, set by
  // the backend's maker (the factory, or the backend's constructor). Without one, an
  // unsupported op is an Error naming the op and the backend.
  void set_fallback(std::unique_ptr<Backend> fallback);
  Backend* fallback() const { return fallback_.get(); }

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
  Tensor add(const Tensor& a, const Tensor& b);                 // a + b, same shape
  void axpy_(Tensor& y, const Tensor& x, double alpha);         // y += alpha * x
  Tensor scale(const Tensor& x, double s);                      // s * x
  Tensor mul_tiled(const Tensor& g, const Tensor& m, int64_t K);  // g (K*N, ...) * m (N, ...) per block
  // out[s*N + n] = x0[n] + t[s] * (x1[n] - x0[n]) for s < T: the batch of IG interpolation
  // points. x0, x1 (N, ...), t host vector of T values; result (T*N, ...).
  Tensor interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t);
  Tensor sum_all(const Tensor& x);                              // shape ()
  // Sum over all but dim 0 of blocks: x (K*M) viewed as (K, M) -> (K,). Used for mean/sum backward too.
  Tensor sum_blocks(const Tensor& x, int64_t K);
  // g (K) -> out (K*M) with out[k*M + i] = g[k] * s: a per-block scalar broadcast back (sum/mean backward).
  Tensor broadcast_blocks(const Tensor& g, int64_t M, double s, int64_t K);

  // ---- convolution: x (N,C,H,W), w (O,C/groups,kh,kw), b (O) or undefined
  Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);
  // gy (K*N,O,Ho,Wo) -> gx (K*N,C,H,W), where x_shape = (N,C,H,W) is the forward input's.
  Tensor conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p,
                              int64_t K);
  // x (N,C,H,W), gy (N,O,Ho,Wo) -> gw (O,C/groups,kh,kw)
  Tensor conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape, const Conv2dParams& p);
  // relu(conv2d_forward(x, w, b, p)): a convolution with a (folded batchnorm's) bias and a
  // ReLU, which a backend may apply in one pass over the output (composite).
  Tensor conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);
  // gy (N,C,H,W) or (N,C) -> (C): sum over everything but the channel (bias and beta gradients)
  Tensor channel_sum(const Tensor& gy);

  // ---- batch normalization, x (N,C,H,W) or (N,C)
  // y = x * a[c] + b[c] (eval-mode batchnorm after folding running stats); b may be undefined.
  // With b undefined and x K-stacked it is also eval-mode batchnorm's backward.
  Tensor channel_affine(const Tensor& x, const Tensor& a, const Tensor& b);
  // Train mode: per-channel batch mean and biased variance; y = gamma * xhat + beta.
  // Writes mean (C), invstd (C) = 1/sqrt(var + eps), xhat (N,C,H,W). Returns y; var_unbiased for running stats.
  Tensor batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& mean,
                                 Tensor& var_unbiased, Tensor& invstd, Tensor& xhat);
  // gy (K*N,C,H,W) K-stacked; xhat (N,C,H,W). Per block k:
  //   gx = gamma*invstd/M * (M*gy - sum(gy) - xhat*sum(gy*xhat)), sums over (N,H,W) of block k, M = N*H*W.
  // ggamma = sum over all blocks of gy*xhat, gbeta = sum over all of gy (only meaningful for K = 1).
  Tensor batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma, const Tensor& invstd,
                                  int64_t K, Tensor& ggamma, Tensor& gbeta);

  // ---- activations
  Tensor relu_forward(const Tensor& x);
  // relu(a + b), a and b of one shape: a residual block's sum and ReLU, which a backend may
  // do in one pass (composite). Its backward is relu_backward's, given to both inputs.
  Tensor add_relu(const Tensor& a, const Tensor& b);
  // The same into a's memory (a's values are lost).
  void add_relu_(Tensor& a, const Tensor& b);
  Tensor relu_backward(const Tensor& gy, const Tensor& y, int64_t K);  // gy (K*N, ...) * (y (N, ...) > 0)

  // ---- pooling, x (N,C,H,W); x_shape in a backward is the forward input's (N,C,H,W)
  // Max pool; indices (N,C,Ho,Wo) int32 hold the flat h*W+w of the chosen input (first max wins).
  // Padding is -inf (torch semantics).
  Tensor maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices);
  // gy (K*N,C,Ho,Wo), indices (N,C,Ho,Wo) applied to each block -> gx (K*N,C,H,W)
  Tensor maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape, int64_t K);
  Tensor avgpool_forward(const Tensor& x, const Pool2dParams& p);
  Tensor avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p, int64_t K);
  // torch.nn.AdaptiveAvgPool2d: bin i spans [floor(i*H/Ho), ceil((i+1)*H/Ho)).
  Tensor adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w);
  Tensor adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape, int64_t K);

  // ---- dense: x (N,in), w (out,in), b (out) or undefined
  Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b);  // x w^T + b
  // gy (K*N,out) w -> (K*N,in), x_shape = (N,in) the forward input's
  Tensor linear_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, int64_t K);
  Tensor linear_backward_weight(const Tensor& x, const Tensor& gy);  // gy^T x

  // ---- loss: logits (N,classes), labels (N) int32 on the same device.
  // Returns the mean negative log-likelihood, shape (); writes probs (N,classes).
  Tensor softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs);
  // g (K) per-block upstream scalars -> (K*N, classes): g[k] * (probs - onehot) / N
  Tensor softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels, int64_t K);

 protected:
  // ---- the kernels: called with operands whose shapes the op's rule has checked, and only
  // for ops the backend supports. A backend overrides those it declares in supports_op.
  // Semantics: the public method of the same name. The defaults of the composite ops call
  // the public methods of their parts; the others throw (an op declared but not implemented).
  virtual Tensor do_add(const Tensor& a, const Tensor& b);
  virtual void do_axpy_(Tensor& y, const Tensor& x, double alpha);
  virtual Tensor do_scale(const Tensor& x, double s);
  virtual Tensor do_mul_tiled(const Tensor& g, const Tensor& m, int64_t K);
  virtual Tensor do_interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t);
  virtual Tensor do_sum_all(const Tensor& x);
  virtual Tensor do_sum_blocks(const Tensor& x, int64_t K);
  virtual Tensor do_broadcast_blocks(const Tensor& g, int64_t M, double s, int64_t K);

  virtual Tensor do_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);
  virtual Tensor do_conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                                            const Conv2dParams& p);
  virtual Tensor do_conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                             const Conv2dParams& p, int64_t K);
  virtual Tensor do_conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                               const Conv2dParams& p);
  virtual Tensor do_channel_sum(const Tensor& gy);

  virtual Tensor do_channel_affine(const Tensor& x, const Tensor& a, const Tensor& b);
  virtual Tensor do_batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                                Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat);
  virtual Tensor do_batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                                 const Tensor& invstd, int64_t K, Tensor& ggamma, Tensor& gbeta);

  virtual Tensor do_relu_forward(const Tensor& x);
  virtual Tensor do_add_relu(const Tensor& a, const Tensor& b);
  virtual void do_add_relu_(Tensor& a, const Tensor& b);
  virtual Tensor do_relu_backward(const Tensor& gy, const Tensor& y, int64_t K);

  virtual Tensor do_maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices);
  virtual Tensor do_maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape, int64_t K);
  virtual Tensor do_avgpool_forward(const Tensor& x, const Pool2dParams& p);
  virtual Tensor do_avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p, int64_t K);
  virtual Tensor do_adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w);
  virtual Tensor do_adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape, int64_t K);

  virtual Tensor do_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b);
  virtual Tensor do_linear_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, int64_t K);
  virtual Tensor do_linear_backward_weight(const Tensor& x, const Tensor& gy);

  virtual Tensor do_softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs);
  virtual Tensor do_softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels, int64_t K);

 private:
  // The fallback for op, after its note in the debug log (once per op on this backend).
  Backend& fallback_for(Op op);
  [[noreturn]] void do_no(Op op) const;

  std::unique_ptr<Backend> fallback_;
  std::array<std::atomic<bool>, kOpCount> fallback_noted_{};  // the op's debug-log note was written
};

}  // namespace sv
