// The op table (autodiff/op.h): one row per Op, in the enum's order (checked below).
#include "autodiff/op.h"

#include "autodiff/error.h"

namespace sv {

namespace {
// clang-format off
constexpr OpInfo kOps[] = {
  {Op::Add,                     "add",                       false, false, "a + b, same shape"},
  {Op::Axpy,                    "axpy",                      false, false, "y += alpha * x in place, same number of elements"},
  {Op::Scale,                   "scale",                     false, false, "s * x"},
  {Op::MulTiled,                "mul",                       true,  false, "g * m, m (N, ...) applied to each of the K blocks of g (K*N, ...)"},
  {Op::Interpolate,             "interpolate",               false, false, "x0 + t[s] * (x1 - x0) for T values t: (T*N, ...), the IG path"},
  {Op::SumAll,                  "sum",                       false, false, "the sum of every element, shape ()"},
  {Op::SumBlocks,               "sum blocks",                true,  false, "x (K*M) viewed as (K, M) summed over M: (K)"},
  {Op::BroadcastBlocks,         "broadcast blocks",          true,  false, "g (K) -> (K*M), g[k] * s in block k (sum and mean backward)"},
  {Op::Conv2dForward,           "conv2d",                    false, false, "x (N,C,H,W) * w (O,C/groups,kh,kw) + b (O)"},
  {Op::Conv2dReluForward,       "conv2d + relu",             false, true,  "relu(conv2d(x, w, b))"},
  {Op::Conv2dBackwardData,      "conv2d backward data",      true,  false, "gy (K*N,O,Ho,Wo) -> gx (K*N,C,H,W)"},
  {Op::Conv2dBackwardFilter,    "conv2d backward filter",    false, false, "x (N,C,H,W), gy (N,O,Ho,Wo) -> gw (O,C/groups,kh,kw)"},
  {Op::ChannelSum,              "channel sum",               false, false, "gy (N,C,...) summed over all but C: (C)"},
  {Op::ChannelAffine,           "channel affine",            false, false, "x * a[c] + b[c] (eval batchnorm, and its backward with b undefined)"},
  {Op::BatchnormTrainForward,   "batchnorm2d",               false, false, "train-mode batchnorm: batch statistics, y = gamma * xhat + beta"},
  {Op::BatchnormTrainBackward,  "batchnorm2d backward",      true,  false, "gy (K*N,C,...) -> gx per block; ggamma, gbeta"},
  {Op::ReluForward,             "relu",                      false, false, "max(x, 0), NaN kept (autodiff/relu_rule.h)"},
  {Op::AddRelu,                 "add + relu",                false, true,  "relu(a + b), also in place into a"},
  {Op::ReluBackward,            "relu backward",             true,  false, "gy * (y > 0), y (N, ...) over each of the K blocks of gy"},
  {Op::MaxpoolForward,          "maxpool2d",                 false, false, "max over windows, int32 indices of the maxima (first wins)"},
  {Op::MaxpoolBackward,         "maxpool2d backward",        true,  false, "gy (K*N,C,Ho,Wo) scattered to the indices: (K*N,C,H,W)"},
  {Op::AvgpoolForward,          "avgpool2d",                 false, false, "mean over windows"},
  {Op::AvgpoolBackward,         "avgpool2d backward",        true,  false, "gy (K*N,C,Ho,Wo) spread over the windows: (K*N,C,H,W)"},
  {Op::AdaptiveAvgpoolForward,  "adaptive_avgpool2d",        false, false, "torch's AdaptiveAvgPool2d: (N,C,H,W) -> (N,C,out_h,out_w)"},
  {Op::AdaptiveAvgpoolBackward, "adaptive_avgpool2d backward", true, false, "gy (K*N,C,out_h,out_w) -> (K*N,C,H,W)"},
  {Op::LinearForward,           "linear",                    false, false, "x (N,in) w^T (in,out) + b (out)"},
  {Op::LinearBackwardData,      "linear backward data",      true,  false, "gy (K*N,out) w (out,in) -> (K*N,in)"},
  {Op::LinearBackwardWeight,    "linear backward weight",    false, false, "gy^T (out,N) x (N,in) -> (out,in)"},
  {Op::SoftmaxXentForward,      "softmax cross-entropy",     false, false, "mean NLL of softmax(logits) at int32 labels, shape (); probs"},
  {Op::SoftmaxXentBackward,     "softmax cross-entropy backward", true, false, "g (K) -> (K*N,classes): g[k] * (probs - onehot) / N"},
};
// clang-format on

constexpr bool in_enum_order() {
  for (int i = 0; i < kOpCount; ++i)
    if (static_cast<int>(kOps[i].op) != i) return false;
  return sizeof(kOps) / sizeof(kOps[0]) == static_cast<size_t>(kOpCount);
}
static_assert(in_enum_order(), "op.cpp: one row per Op, in the enum's order");
}  // namespace

const OpInfo& op_info(Op op) {
  const int i = static_cast<int>(op);
  SV_CHECK(i >= 0 && i < kOpCount, ValueError, "unknown op " + std::to_string(i));
  return kOps[i];
}

}  // namespace sv
