// The differentiable ops. Each records its backward on the graph of its first input.
// Shapes: images (N,C,H,W), features (N,D). Every op checks its inputs and throws
// ShapeError / ValueError naming the op and the shapes.
#pragma once
#include "autodiff/graph.h"

namespace sv {

// x (N,C,H,W), w (O,C/groups,kh,kw), b (O) or an undefined Var
Var conv2d(const Var& x, const Var& w, const Var& b, const Conv2dParams& p);
// Eval-mode batchnorm as a per-channel affine map y = x * a + c, where
// a = gamma / sqrt(running_var + eps) and c = beta - running_mean * a (batchnorm_fold).
Var batchnorm2d_eval(const Var& x, const Tensor& a, const Tensor& c);
void batchnorm_fold(Backend& be, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                    const Tensor& running_var, double eps, Tensor& a, Tensor& c);
// conv2d then eval-mode batchnorm (y = a * conv(x, w, b) + c per output channel), then
// ReLU if relu, as one convolution with the folded weight and bias from conv_bn_fold
// (layers/conv_bn.cpp). Gradients: x, and w, b as of the unfused ops; none for the batchnorm.
// keep_folded: the backward holds w_folded (when the caller caches it anyway); otherwise it
// folds again when it runs, so a recorded graph holds no second copy of the weights.
Var conv2d_bn_eval(const Var& x, const Var& w, const Var& b, const Tensor& a, const Tensor& w_folded,
                   const Tensor& b_folded, const Conv2dParams& p, bool relu = false, bool keep_folded = true);
void conv_bn_fold(Backend& be, const Tensor& w, const Tensor& b, const Tensor& a, const Tensor& c, Tensor& w_folded,
                  Tensor& b_folded);
// Train: batch statistics; running_mean/var updated in place with momentum (torch convention).
Var batchnorm2d_train(const Var& x, const Var& gamma, const Var& beta, Tensor& running_mean, Tensor& running_var,
                      double eps, double momentum);
Var relu(const Var& x);
// relu(a + b) as one op (Backend::add_relu): the end of a residual block. Given a for good
// (an rvalue) whose storage nothing else shares, the result is written over it.
Var add_relu(const Var& a, const Var& b);
Var add_relu(Var&& a, const Var& b);
Var maxpool2d(const Var& x, const Pool2dParams& p);
Var avgpool2d(const Var& x, const Pool2dParams& p);
Var adaptive_avgpool2d(const Var& x, int out_h, int out_w);
// Global pooling over H, W to (N, C): torch's x.mean((2,3)) and x.amax((2,3)).
Var global_avgpool(const Var& x);
Var global_maxpool(const Var& x);
// x (N,in), w (out,in), b (out) or undefined
Var linear(const Var& x, const Var& w, const Var& b);
Var flatten(const Var& x);  // (N, ...) -> (N, prod)
Var reshape(const Var& x, const Shape& shape);  // shape[0] must equal x's dim 0
Var add(const Var& a, const Var& b);
Var scale(const Var& x, double s);
Var mul(const Var& a, const Tensor& m);  // a * m with m constant (same shape as a)
// Inverted dropout: identity unless the graph is training; then keeps with prob 1-p, scales 1/(1-p).
Var dropout(const Var& x, double p, uint64_t seed);
Var sum(const Var& x);   // -> shape ()
Var mean(const Var& x);  // -> shape ()
// logits (N,classes), labels (N) int32 -> mean cross-entropy, shape ()
Var cross_entropy(const Var& logits, const Tensor& labels);

}  // namespace sv
