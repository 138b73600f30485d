// Every op's output-shape rule (autodiff/op.h), once: given its operands' shapes (and K
// for the ops whose gradient operand is K-stacked) it checks them exactly and returns the
// result's shape. A mismatch is a ShapeError naming the op and the shapes, an invalid
// parameter a ValueError. Backend's methods check their operands with these before any
// kernel runs, and a Graph in shape-only mode (autodiff/graph.h) computes shapes with them
// instead of values. Conventions (K-stacking): autodiff/backend.h.
#pragma once
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

// ---- convolution and pooling (torch's formulas; they also validate the parameters)
Shape conv2d_out_shape(const Shape& x, const Shape& w, const Conv2dParams& p);  // x (N,C,H,W), w (O,C/g,kh,kw)
// A convolution backward's check: the output shape of conv2d(x, w, p), which the gradient
// gy must have (ShapeError otherwise).
Shape conv2d_grad_shape(const Shape& gy, const Shape& x, const Shape& w, const Conv2dParams& p);
Shape pool2d_out_shape(const Shape& x, const Pool2dParams& p, const char* op);
// g must be m stacked exactly K times (K >= 1): g == fold_k(m, K). Else a ShapeError
// naming op, K and both shapes.
void check_stacked(const Shape& g, const Shape& m, int64_t K, const char* op);

// ---- one rule per op (autodiff/op.h), named after it. `bias` may be empty (no bias).
namespace shape_rule {
Shape add(const Shape& a, const Shape& b);
Shape axpy(const Shape& y, const Shape& x);
Shape scale(const Shape& x);
Shape mul_tiled(const Shape& g, const Shape& m, int64_t K);
Shape interpolate(const Shape& x0, const Shape& x1, int64_t T);
Shape sum_all(const Shape& x);
Shape sum_blocks(const Shape& x, int64_t K);
Shape broadcast_blocks(const Shape& g, int64_t M, int64_t K);

Shape conv2d(const Shape& x, const Shape& w, const Shape* bias, const Conv2dParams& p);
Shape conv2d_backward_data(const Shape& gy, const Shape& w, const Shape& x, const Conv2dParams& p, int64_t K);
Shape conv2d_backward_filter(const Shape& x, const Shape& gy, const Shape& w, const Conv2dParams& p);
Shape channel_sum(const Shape& gy);

Shape channel_affine(const Shape& x, const Shape& a, const Shape* b);
Shape batchnorm_train(const Shape& x, const Shape& gamma, const Shape& beta);
Shape batchnorm_train_backward(const Shape& gy, const Shape& xhat, const Shape& gamma, const Shape& invstd,
                               int64_t K);

Shape relu(const Shape& x);
Shape add_relu(const Shape& a, const Shape& b);
Shape relu_backward(const Shape& gy, const Shape& y, int64_t K);

Shape maxpool(const Shape& x, const Pool2dParams& p);
Shape maxpool_backward(const Shape& gy, const Shape& indices, const Shape& x, int64_t K);
Shape avgpool(const Shape& x, const Pool2dParams& p);
Shape avgpool_backward(const Shape& gy, const Shape& x, const Pool2dParams& p, int64_t K);
Shape adaptive_avgpool(const Shape& x, int out_h, int out_w);
Shape adaptive_avgpool_backward(const Shape& gy, const Shape& x, int64_t K);

Shape linear(const Shape& x, const Shape& w, const Shape* bias);
Shape linear_backward_data(const Shape& gy, const Shape& w, const Shape& x, int64_t K);
Shape linear_backward_weight(const Shape& x, const Shape& gy);

Shape softmax_xent(const Shape& logits, const Shape& labels);
Shape softmax_xent_backward(const Shape& g, const Shape& probs, const Shape& labels, int64_t K);
}  // namespace shape_rule

}  // namespace sv
