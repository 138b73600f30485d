// Layer output shapes without computing any values: the model runs on a shape-only graph
// (autodiff/graph.h), where each op gives its output's shape by its shape rule
// (autodiff/shapes.h) and runs no kernel. Used by `sharedvis info` (and the Python
// Model.layers) to list every layer with its output shape in the time of a few allocations.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "weights/model.h"

namespace sv {

struct LayerShape {
  std::string name;
  Shape shape;  // empty when the forward pass does not reach the layer
};

// Output shape of every layer (Module::layer_names order) for the input shape x_shape
// (N, C, H, W). The model's tensors must be on the host.
std::vector<LayerShape> layer_output_shapes(Model& m, const Shape& x_shape);

}  // namespace sv
