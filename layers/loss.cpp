// Softmax cross-entropy, forward and backward side by side.
#include "layers/ops.h"

namespace sv {

namespace {
struct CrossEntropyNode : Node {
  Tensor probs, labels;  // probs (N,classes) softmax of the logits, labels (N) int32
  const char* name() const override { return "cross_entropy"; }
  void backward(Backend& be, const Tensor& gy, int64_t K, const std::vector<bool>&, std::vector<Tensor>& gin) override {
    gin[0] = be.softmax_xent_backward(gy, probs, labels, K);
  }
};
}  // namespace

Var cross_entropy(const Var& logits, const Tensor& labels) {
  check_ndim(logits.value, 2, "cross_entropy", "logits");
  SV_CHECK(labels.ndim() == 1 && labels.dim(0) == logits.dim(0) && labels.dtype() == DType::I32, ShapeError,
           "cross_entropy: labels must be int32 of shape (" + std::to_string(logits.dim(0)) + ",), got " +
               dtype_name(labels.dtype()) + " " + shape_str(labels.shape()));
  SV_CHECK(logits.dim(0) > 0, ShapeError, "cross_entropy: empty batch");
  Backend& be = logits.backend();
  Tensor host = be.download(labels);
  const int64_t classes = logits.dim(1);
  for (int64_t i = 0; i < host.numel(); ++i) {
    int32_t l = host.data<int32_t>()[i];
    SV_CHECK(l >= 0 && l < classes, ValueError,
             "cross_entropy: label " + std::to_string(l) + " at row " + std::to_string(i) + " is outside [0, " +
                 std::to_string(classes) + ")");
  }
  auto node = std::make_unique<CrossEntropyNode>();
  node->labels = be.upload(labels);
  Tensor loss = logits.graph->result(shape_rule::softmax_xent(logits.shape(), labels.shape()), logits.value.dtype(),
                                     [&] { return be.softmax_xent_forward(logits.value, node->labels, node->probs); });
  return logits.graph->record(std::move(loss), {logits}, std::move(node));
}

}  // namespace sv
