// Backend's public methods (autodiff/backend.h): each op's shape rule, then the backend's
// kernel or, for an op it does not support, the fallback's (operands downloaded, results
// uploaded; one note in the debug log per op).
#include "autodiff/backend.h"

#include "autodiff/log.h"

namespace sv {

void Backend::set_fallback(std::unique_ptr<Backend> fallback) {
  SV_CHECK(fallback == nullptr || fallback->device() == Device::CPU, ValueError,
           name() + ": the fallback backend must compute on the host, got " + fallback->name());
  fallback_ = std::move(fallback);
}

Backend& Backend::fallback_for(Op op) {
  SV_CHECK(fallback_ != nullptr, Error,
           name() + " has no kernel for " + op_name(op) + " and no fallback backend to run it");
  if (!fallback_noted_[static_cast<size_t>(op)].exchange(true)) {
    debug_log(name() + " has no kernel for " + op_name(op) + ": it runs on " + fallback_->name() +
              (device() == Device::CPU ? "" : " (operands downloaded, results uploaded)"));
  }
  return *fallback_;
}

void Backend::do_no(Op op) const {
  throw Error(name() + " declares " + op_name(op) + " supported but implements no kernel for it");
}

namespace {
const Shape* opt_shape(const Tensor& t) { return t.defined() ? &t.shape() : nullptr; }
}  // namespace

// Each method: the shape rule, then the kernel or the fallback. `down` gives the fallback
// host operands (a host tensor is shared), `up` brings a result back.
#define SV_DOWN(t) ((t).defined() ? download(t) : (t))

// ---- elementwise and reductions
Tensor Backend::add(const Tensor& a, const Tensor& b) {
  shape_rule::add(a.shape(), b.shape());
  if (supports_op(Op::Add)) return do_add(a, b);
  return upload(fallback_for(Op::Add).add(SV_DOWN(a), SV_DOWN(b)));
}

void Backend::axpy_(Tensor& y, const Tensor& x, double alpha) {
  shape_rule::axpy(y.shape(), x.shape());
  if (supports_op(Op::Axpy)) return do_axpy_(y, x, alpha);
  Tensor hy = SV_DOWN(y);
  fallback_for(Op::Axpy).axpy_(hy, SV_DOWN(x), alpha);
  if (hy.raw() != y.raw()) copy_(y, upload(hy));  // a device y: its host copy was updated
}

Tensor Backend::scale(const Tensor& x, double s) {
  shape_rule::scale(x.shape());
  if (supports_op(Op::Scale)) return do_scale(x, s);
  return upload(fallback_for(Op::Scale).scale(SV_DOWN(x), s));
}

Tensor Backend::mul_tiled(const Tensor& g, const Tensor& m, int64_t K) {
  shape_rule::mul_tiled(g.shape(), m.shape(), K);
  if (supports_op(Op::MulTiled)) return do_mul_tiled(g, m, K);
  return upload(fallback_for(Op::MulTiled).mul_tiled(SV_DOWN(g), SV_DOWN(m), K));
}

Tensor Backend::interpolate(const Tensor& x0, const Tensor& x1, const std::vector<double>& t) {
  shape_rule::interpolate(x0.shape(), x1.shape(), static_cast<int64_t>(t.size()));
  if (supports_op(Op::Interpolate)) return do_interpolate(x0, x1, t);
  return upload(fallback_for(Op::Interpolate).interpolate(SV_DOWN(x0), SV_DOWN(x1), t));
}

Tensor Backend::sum_all(const Tensor& x) {
  shape_rule::sum_all(x.shape());
  if (supports_op(Op::SumAll)) return do_sum_all(x);
  return upload(fallback_for(Op::SumAll).sum_all(SV_DOWN(x)));
}

Tensor Backend::sum_blocks(const Tensor& x, int64_t K) {
  shape_rule::sum_blocks(x.shape(), K);
  if (supports_op(Op::SumBlocks)) return do_sum_blocks(x, K);
  return upload(fallback_for(Op::SumBlocks).sum_blocks(SV_DOWN(x), K));
}

Tensor Backend::broadcast_blocks(const Tensor& g, int64_t M, double s, int64_t K) {
  shape_rule::broadcast_blocks(g.shape(), M, K);
  if (supports_op(Op::BroadcastBlocks)) return do_broadcast_blocks(g, M, s, K);
  return upload(fallback_for(Op::BroadcastBlocks).broadcast_blocks(SV_DOWN(g), M, s, K));
}

// ---- convolution
Tensor Backend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  shape_rule::conv2d(x.shape(), w.shape(), opt_shape(b), p);
  if (supports_op(Op::Conv2dForward)) return do_conv2d_forward(x, w, b, p);
  return upload(fallback_for(Op::Conv2dForward).conv2d_forward(SV_DOWN(x), SV_DOWN(w), SV_DOWN(b), p));
}

Tensor Backend::conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  shape_rule::conv2d(x.shape(), w.shape(), opt_shape(b), p);
  if (supports_op(Op::Conv2dReluForward)) return do_conv2d_relu_forward(x, w, b, p);
  return upload(fallback_for(Op::Conv2dReluForward).conv2d_relu_forward(SV_DOWN(x), SV_DOWN(w), SV_DOWN(b), p));
}

Tensor Backend::conv2d_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p,
                                     int64_t K) {
  shape_rule::conv2d_backward_data(gy.shape(), w.shape(), x_shape, p, K);
  if (supports_op(Op::Conv2dBackwardData)) return do_conv2d_backward_data(gy, w, x_shape, p, K);
  return upload(fallback_for(Op::Conv2dBackwardData).conv2d_backward_data(SV_DOWN(gy), SV_DOWN(w), x_shape, p, K));
}

Tensor Backend::conv2d_backward_filter(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                       const Conv2dParams& p) {
  shape_rule::conv2d_backward_filter(x.shape(), gy.shape(), w_shape, p);
  if (supports_op(Op::Conv2dBackwardFilter)) return do_conv2d_backward_filter(x, gy, w_shape, p);
  return upload(fallback_for(Op::Conv2dBackwardFilter).conv2d_backward_filter(SV_DOWN(x), SV_DOWN(gy), w_shape, p));
}

Tensor Backend::channel_sum(const Tensor& gy) {
  shape_rule::channel_sum(gy.shape());
  if (supports_op(Op::ChannelSum)) return do_channel_sum(gy);
  return upload(fallback_for(Op::ChannelSum).channel_sum(SV_DOWN(gy)));
}

// ---- per-channel affine and batch normalization
Tensor Backend::channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  shape_rule::channel_affine(x.shape(), a.shape(), opt_shape(b));
  if (supports_op(Op::ChannelAffine)) return do_channel_affine(x, a, b);
  return upload(fallback_for(Op::ChannelAffine).channel_affine(SV_DOWN(x), SV_DOWN(a), SV_DOWN(b)));
}

Tensor Backend::batchnorm_train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                        Tensor& mean, Tensor& var_unbiased, Tensor& invstd, Tensor& xhat) {
  shape_rule::batchnorm_train(x.shape(), gamma.shape(), beta.shape());
  if (supports_op(Op::BatchnormTrainForward))
    return do_batchnorm_train_forward(x, gamma, beta, eps, mean, var_unbiased, invstd, xhat);
  Tensor y = fallback_for(Op::BatchnormTrainForward)
                 .batchnorm_train_forward(SV_DOWN(x), SV_DOWN(gamma), SV_DOWN(beta), eps, mean, var_unbiased, invstd,
                                          xhat);
  for (Tensor* t : {&mean, &var_unbiased, &invstd, &xhat}) *t = upload(*t);
  return upload(y);
}

Tensor Backend::batchnorm_train_backward(const Tensor& gy, const Tensor& xhat, const Tensor& gamma,
                                         const Tensor& invstd, int64_t K, Tensor& ggamma, Tensor& gbeta) {
  shape_rule::batchnorm_train_backward(gy.shape(), xhat.shape(), gamma.shape(), invstd.shape(), K);
  if (supports_op(Op::BatchnormTrainBackward))
    return do_batchnorm_train_backward(gy, xhat, gamma, invstd, K, ggamma, gbeta);
  Tensor gx = fallback_for(Op::BatchnormTrainBackward)
                  .batchnorm_train_backward(SV_DOWN(gy), SV_DOWN(xhat), SV_DOWN(gamma), SV_DOWN(invstd), K, ggamma,
                                            gbeta);
  ggamma = upload(ggamma);
  gbeta = upload(gbeta);
  return upload(gx);
}

// ---- activations
Tensor Backend::relu_forward(const Tensor& x) {
  shape_rule::relu(x.shape());
  if (supports_op(Op::ReluForward)) return do_relu_forward(x);
  return upload(fallback_for(Op::ReluForward).relu_forward(SV_DOWN(x)));
}

Tensor Backend::add_relu(const Tensor& a, const Tensor& b) {
  shape_rule::add_relu(a.shape(), b.shape());
  if (supports_op(Op::AddRelu)) return do_add_relu(a, b);
  return upload(fallback_for(Op::AddRelu).add_relu(SV_DOWN(a), SV_DOWN(b)));
}

void Backend::add_relu_(Tensor& a, const Tensor& b) {
  shape_rule::add_relu(a.shape(), b.shape());
  if (supports_op(Op::AddRelu)) return do_add_relu_(a, b);
  Tensor ha = SV_DOWN(a);
  fallback_for(Op::AddRelu).add_relu_(ha, SV_DOWN(b));
  if (ha.raw() != a.raw()) copy_(a, upload(ha));
}

Tensor Backend::relu_backward(const Tensor& gy, const Tensor& y, int64_t K) {
  shape_rule::relu_backward(gy.shape(), y.shape(), K);
  if (supports_op(Op::ReluBackward)) return do_relu_backward(gy, y, K);
  return upload(fallback_for(Op::ReluBackward).relu_backward(SV_DOWN(gy), SV_DOWN(y), K));
}

// ---- pooling
Tensor Backend::maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) {
  shape_rule::maxpool(x.shape(), p);
  if (supports_op(Op::MaxpoolForward)) return do_maxpool_forward(x, p, indices);
  Tensor y = fallback_for(Op::MaxpoolForward).maxpool_forward(SV_DOWN(x), p, indices);
  indices = upload(indices);
  return upload(y);
}

Tensor Backend::maxpool_backward(const Tensor& gy, const Tensor& indices, const Shape& x_shape, int64_t K) {
  shape_rule::maxpool_backward(gy.shape(), indices.shape(), x_shape, K);
  if (supports_op(Op::MaxpoolBackward)) return do_maxpool_backward(gy, indices, x_shape, K);
  return upload(fallback_for(Op::MaxpoolBackward).maxpool_backward(SV_DOWN(gy), SV_DOWN(indices), x_shape, K));
}

Tensor Backend::avgpool_forward(const Tensor& x, const Pool2dParams& p) {
  shape_rule::avgpool(x.shape(), p);
  if (supports_op(Op::AvgpoolForward)) return do_avgpool_forward(x, p);
  return upload(fallback_for(Op::AvgpoolForward).avgpool_forward(SV_DOWN(x), p));
}

Tensor Backend::avgpool_backward(const Tensor& gy, const Shape& x_shape, const Pool2dParams& p, int64_t K) {
  shape_rule::avgpool_backward(gy.shape(), x_shape, p, K);
  if (supports_op(Op::AvgpoolBackward)) return do_avgpool_backward(gy, x_shape, p, K);
  return upload(fallback_for(Op::AvgpoolBackward).avgpool_backward(SV_DOWN(gy), x_shape, p, K));
}

Tensor Backend::adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) {
  shape_rule::adaptive_avgpool(x.shape(), out_h, out_w);
  if (supports_op(Op::AdaptiveAvgpoolForward)) return do_adaptive_avgpool_forward(x, out_h, out_w);
  return upload(fallback_for(Op::AdaptiveAvgpoolForward).adaptive_avgpool_forward(SV_DOWN(x), out_h, out_w));
}

Tensor Backend::adaptive_avgpool_backward(const Tensor& gy, const Shape& x_shape, int64_t K) {
  shape_rule::adaptive_avgpool_backward(gy.shape(), x_shape, K);
  if (supports_op(Op::AdaptiveAvgpoolBackward)) return do_adaptive_avgpool_backward(gy, x_shape, K);
  return upload(fallback_for(Op::AdaptiveAvgpoolBackward).adaptive_avgpool_backward(SV_DOWN(gy), x_shape, K));
}

// ---- dense
Tensor Backend::linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  shape_rule::linear(x.shape(), w.shape(), opt_shape(b));
  if (supports_op(Op::LinearForward)) return do_linear_forward(x, w, b);
  return upload(fallback_for(Op::LinearForward).linear_forward(SV_DOWN(x), SV_DOWN(w), SV_DOWN(b)));
}

Tensor Backend::linear_backward_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, int64_t K) {
  shape_rule::linear_backward_data(gy.shape(), w.shape(), x_shape, K);
  if (supports_op(Op::LinearBackwardData)) return do_linear_backward_data(gy, w, x_shape, K);
  return upload(fallback_for(Op::LinearBackwardData).linear_backward_data(SV_DOWN(gy), SV_DOWN(w), x_shape, K));
}

Tensor Backend::linear_backward_weight(const Tensor& x, const Tensor& gy) {
  shape_rule::linear_backward_weight(x.shape(), gy.shape());
  if (supports_op(Op::LinearBackwardWeight)) return do_linear_backward_weight(x, gy);
  return upload(fallback_for(Op::LinearBackwardWeight).linear_backward_weight(SV_DOWN(x), SV_DOWN(gy)));
}

// ---- loss
Tensor Backend::softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& probs) {
  shape_rule::softmax_xent(logits.shape(), labels.shape());
  if (supports_op(Op::SoftmaxXentForward)) return do_softmax_xent_forward(logits, labels, probs);
  Tensor loss = fallback_for(Op::SoftmaxXentForward).softmax_xent_forward(SV_DOWN(logits), SV_DOWN(labels), probs);
  probs = upload(probs);
  return upload(loss);
}

Tensor Backend::softmax_xent_backward(const Tensor& g, const Tensor& probs, const Tensor& labels, int64_t K) {
  shape_rule::softmax_xent_backward(g.shape(), probs.shape(), labels.shape(), K);
  if (supports_op(Op::SoftmaxXentBackward)) return do_softmax_xent_backward(g, probs, labels, K);
  return upload(
      fallback_for(Op::SoftmaxXentBackward).softmax_xent_backward(SV_DOWN(g), SV_DOWN(probs), SV_DOWN(labels), K));
}

#undef SV_DOWN

// ---- default kernels: the composite ops from their parts; the others are not implemented.
Tensor Backend::do_conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  return relu_forward(conv2d_forward(x, w, b, p));
}
Tensor Backend::do_add_relu(const Tensor& a, const Tensor& b) { return relu_forward(add(a, b)); }
void Backend::do_add_relu_(Tensor& a, const Tensor& b) {
  const Tensor y = add_relu(a, b);
  copy_(a, y);
}

Tensor Backend::do_add(const Tensor&, const Tensor&) { do_no(Op::Add); }
void Backend::do_axpy_(Tensor&, const Tensor&, double) { do_no(Op::Axpy); }
Tensor Backend::do_scale(const Tensor&, double) { do_no(Op::Scale); }
Tensor Backend::do_mul_tiled(const Tensor&, const Tensor&, int64_t) { do_no(Op::MulTiled); }
Tensor Backend::do_interpolate(const Tensor&, const Tensor&, const std::vector<double>&) {
  do_no(Op::Interpolate);
}
Tensor Backend::do_sum_all(const Tensor&) { do_no(Op::SumAll); }
Tensor Backend::do_sum_blocks(const Tensor&, int64_t) { do_no(Op::SumBlocks); }
Tensor Backend::do_broadcast_blocks(const Tensor&, int64_t, double, int64_t) { do_no(Op::BroadcastBlocks); }
Tensor Backend::do_conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) {
  do_no(Op::Conv2dForward);
}
Tensor Backend::do_conv2d_backward_data(const Tensor&, const Tensor&, const Shape&, const Conv2dParams&, int64_t) {
  do_no(Op::Conv2dBackwardData);
}
Tensor Backend::do_conv2d_backward_filter(const Tensor&, const Tensor&, const Shape&, const Conv2dParams&) {
  do_no(Op::Conv2dBackwardFilter);
}
Tensor Backend::do_channel_sum(const Tensor&) { do_no(Op::ChannelSum); }
Tensor Backend::do_channel_affine(const Tensor&, const Tensor&, const Tensor&) { do_no(Op::ChannelAffine); }
Tensor Backend::do_batchnorm_train_forward(const Tensor&, const Tensor&, const Tensor&, double, Tensor&, Tensor&,
                                               Tensor&, Tensor&) {
  do_no(Op::BatchnormTrainForward);
}
Tensor Backend::do_batchnorm_train_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                                                Tensor&, Tensor&) {
  do_no(Op::BatchnormTrainBackward);
}
Tensor Backend::do_relu_forward(const Tensor&) { do_no(Op::ReluForward); }
Tensor Backend::do_relu_backward(const Tensor&, const Tensor&, int64_t) { do_no(Op::ReluBackward); }
Tensor Backend::do_maxpool_forward(const Tensor&, const Pool2dParams&, Tensor&) { do_no(Op::MaxpoolForward); }
Tensor Backend::do_maxpool_backward(const Tensor&, const Tensor&, const Shape&, int64_t) {
  do_no(Op::MaxpoolBackward);
}
Tensor Backend::do_avgpool_forward(const Tensor&, const Pool2dParams&) { do_no(Op::AvgpoolForward); }
Tensor Backend::do_avgpool_backward(const Tensor&, const Shape&, const Pool2dParams&, int64_t) {
  do_no(Op::AvgpoolBackward);
}
Tensor Backend::do_adaptive_avgpool_forward(const Tensor&, int, int) { do_no(Op::AdaptiveAvgpoolForward); }
Tensor Backend::do_adaptive_avgpool_backward(const Tensor&, const Shape&, int64_t) {
  do_no(Op::AdaptiveAvgpoolBackward);
}
Tensor Backend::do_linear_forward(const Tensor&, const Tensor&, const Tensor&) { do_no(Op::LinearForward); }
Tensor Backend::do_linear_backward_data(const Tensor&, const Tensor&, const Shape&, int64_t) {
  do_no(Op::LinearBackwardData);
}
Tensor Backend::do_linear_backward_weight(const Tensor&, const Tensor&) { do_no(Op::LinearBackwardWeight); }
Tensor Backend::do_softmax_xent_forward(const Tensor&, const Tensor&, Tensor&) {
  do_no(Op::SoftmaxXentForward);
}
Tensor Backend::do_softmax_xent_backward(const Tensor&, const Tensor&, const Tensor&, int64_t) {
  do_no(Op::SoftmaxXentBackward);
}

}  // namespace sv
