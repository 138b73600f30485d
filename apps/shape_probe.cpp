// Layer output shapes from a shape-only forward pass (autodiff/graph.h): every op checks
// its operands with its shape rule (autodiff/shapes.h) and returns an uninitialised tensor
// of its output's shape; no kernel runs and nothing is cached from the values.
#include "apps/shape_probe.h"

#include "backends/reference/reference_backend.h"

namespace sv {

std::vector<LayerShape> layer_output_shapes(Model& m, const Shape& x_shape) {
  SV_CHECK(m.net != nullptr, ValueError, "model has no network");
  DType dt = DType::F32;
  for (auto& [name, p] : m.net->state()) {
    SV_CHECK(!p->value.defined() || p->value.is_cpu(), Error, "layer_output_shapes: tensor " + name + " is not on the host");
    if (p->value.defined()) dt = p->value.dtype();
  }
  ReferenceBackend host;  // holds the model's host tensors; runs no kernel in a shape-only graph
  const Tensor x = Tensor::empty(x_shape, dt);
  std::vector<LayerShape> out;
  for (const std::string& name : m.net->layer_names()) {
    Graph g(host, /*record=*/false, /*shapes_only=*/true);
    Forward fw(g, name);
    m.net->forward(g.input(x), fw);
    out.push_back({name, fw.done() ? fw.captured().shape() : Shape{}});
  }
  return out;
}

}  // namespace sv
