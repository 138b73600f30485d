// conv2d followed by eval-mode batchnorm (and optionally ReLU), as one convolution:
// forward and backward side by side.
//
// Eval-mode batchnorm is the per-channel affine map y = a[o] * z + c[o] (batchnorm_fold),
// so with z = conv(x, w) + b it folds into the convolution:
//   w'[o] = a[o] * w[o],  b'[o] = a[o] * b[o] + c[o],  y = conv(x, w') + b'.
// The forward saves the batchnorm's pass over the output (the bias is added per tile,
// while the tile is in cache), the backward its pass over the K-stacked gradient:
//   gx = conv_backward_data(gy, w')
//   gw = a[o] * conv_backward_filter(x, gy),  gb = a[o] * channel_sum(gy)
// which are the gradients of the unfused pair; batchnorm's own tensors get none, as in
// batchnorm2d_eval. With relu, y = max(conv(x, w') + b', 0) (Backend::conv2d_relu_forward:
// one pass over y where the backend fuses it) and gy is first masked by y > 0, as relu's
// backward does. The folded w', b' are made by conv_bn_fold (cached by Conv2d on the CPU);
// without keep_folded the backward makes w' again rather than hold a copy of the weights.
#include "layers/ops.h"

namespace sv {

namespace {
// t[o, ...] * s[o] for t (O, ...): s scales dimension 0.
Tensor scale_rows(Backend& be, const Tensor& t, const Tensor& s) {
  const int64_t O = t.dim(0), rest = O ? t.numel() / O : 0;
  return be.channel_affine(t.reshape({1, O, 1, rest}), s, Tensor()).reshape(t.shape());
}

struct Conv2dBnNode : Node {
  Tensor x, w, a;   // x (N,C,H,W), w (O,C/g,kh,kw), a (O)
  Tensor w_folded;  // w' when the caller keeps it anyway (a cache), else made again here
  Tensor y;         // the output, for the ReLU's mask (relu only)
  bool has_bias;
  Conv2dParams p;
  const char* name() const override { return y.defined() ? "conv2d_bn_relu_eval" : "conv2d_bn_eval"; }
  void backward(Backend& be, const Tensor& gout, int64_t K, const std::vector<bool>& need,
                std::vector<Tensor>& gin) override {
    const Tensor gy = y.defined() ? be.relu_backward(gout, y, K) : gout;
    if (need[0]) {
      const Tensor wf = w_folded.defined() ? w_folded : scale_rows(be, w, a);
      gin[0] = be.conv2d_backward_data(gy, wf, x.shape(), p, K);
    }
    if (need[1]) {
      SV_CHECK(K == 1, Error, "conv2d: weight gradients need K = 1");
      gin[1] = scale_rows(be, be.conv2d_backward_filter(x, gy, w.shape(), p), a);
    }
    if (has_bias && need[2]) gin[2] = be.mul_tiled(be.channel_sum(gy), a, 1);
  }
};
}  // namespace

void conv_bn_fold(Backend& be, const Tensor& w, const Tensor& b, const Tensor& a, const Tensor& c, Tensor& w_folded,
                  Tensor& b_folded) {
  SV_CHECK(w.ndim() == 4 && a.ndim() == 1 && a.dim(0) == w.dim(0) && c.shape() == a.shape(), ShapeError,
           "conv2d + batchnorm2d: weight " + shape_str(w.shape()) + " and batchnorm scale " + shape_str(a.shape()) +
               " / shift " + shape_str(c.shape()) + " do not match (one batchnorm channel per output channel)");
  w_folded = scale_rows(be, w, a);
  b_folded = b.defined() ? be.channel_affine(b.reshape({1, b.numel()}), a, c).reshape(c.shape()) : c;
}

Var conv2d_bn_eval(const Var& x, const Var& w, const Var& b, const Tensor& a, const Tensor& w_folded,
                   const Tensor& b_folded, const Conv2dParams& p, bool relu, bool keep_folded) {
  check_ndim(x.value, 4, "conv2d", "input");
  check_same_dtype_device(x.value, w_folded, "conv2d");
  SV_CHECK(w_folded.shape() == w.shape() && b_folded.numel() == w.dim(0) && a.numel() == w.dim(0), ShapeError,
           "conv2d + batchnorm2d: folded weight " + shape_str(w_folded.shape()) + " does not match weight " +
               shape_str(w.shape()));
  const Shape ys = shape_rule::conv2d(x.shape(), w.shape(), nullptr, p);
  Backend& be = x.backend();
  Tensor y = x.graph->result(ys, x.value.dtype(), [&] {
    return relu ? be.conv2d_relu_forward(x.value, w_folded, b_folded, p)
                : be.conv2d_forward(x.value, w_folded, b_folded, p);
  });
  auto node = std::make_unique<Conv2dBnNode>();
  if (relu) node->y = y;
  node->x = x.value;
  node->w = w.value;
  node->a = a;
  if (keep_folded) node->w_folded = w_folded;
  node->has_bias = b.value.defined();
  node->p = p;
  return x.graph->record(std::move(y), {x, w, b}, std::move(node));
}

}  // namespace sv
