// The research primitives, part 1: φ(x) at a layer, multi-output vector-Jacobian
// products and Jacobian rows. Integrated Gradients and baselines: primitives_ig.cpp.
//
// Every primitive records one forward pass of the images up to the layer (the pass
// stops there: Forward stop_at) and runs multi-output backward passes that carry up to
// max_k cotangents at once (Graph::vjp, K folded into the batch dimension). Inputs and
// results are host tensors in the model's dtype; the work runs on the given backend.
#include "apps/primitives.h"

#include <cstring>

#include "apps/chunks.h"
#include "apps/primitives_util.h"

namespace sv {

void model_to(Model& m, Backend& be) {
  SV_CHECK(m.net != nullptr, ValueError, "model has no network");
  for (auto& [name, p] : m.net->state())
    if (p->value.defined()) {
      if (!be.holds(p->value)) m.net->to(be);
      return;
    }
}

std::string first_nonfinite_module(Model& m, Backend& be, const std::string& layer, const Tensor& x) {
  model_to(m, be);
  Graph g(be, /*record=*/false);
  Forward fw(g, layer, /*fuse=*/false);  // every module's own output, the conv's too
  std::string found;
  fw.observe = [&](const std::string& path, const Var& y) {
    if (!found.empty() || !y.value.defined()) return;
    const Tensor h = be.download(y.value);
    const int64_t i = first_nonfinite(h);
    if (i >= 0)
      found = path + ": " + std::to_string(h.item(i)) + " at index " + std::to_string(i) + " of " + shape_str(h.shape());
  };
  m.net->forward(g.input(x.to(detail::model_dtype(m))), fw);
  return found;
}

Var layer_features(Model& m, Graph& g, const Var& x, const std::string& layer, Pool pool) {
  SV_CHECK(m.net != nullptr, ValueError, "model has no network");
  m.check_layer(layer);
  Forward fw(g, layer);
  m.net->forward(x, fw);
  SV_CHECK(fw.done(), ValueError, "layer '" + layer + "' is not reached by the forward pass of " + m.info.arch);
  return pool_features(fw.captured(), layer, pool);
}

Var pool_features(const Var& y, const std::string& layer, Pool pool) {
  if (y.value.ndim() == 2) return y;  // (N, D): already a feature vector
  if (y.value.ndim() == 4) {
    switch (pool) {
      case Pool::Avg: return global_avgpool(y);
      case Pool::Max: return global_maxpool(y);
      case Pool::None: return flatten(y);
    }
  }
  SV_CHECK(pool == Pool::None, ValueError,
           "layer '" + layer + "' has output " + shape_str(y.shape()) + "; --pool " + pool_name(pool) +
               " needs (N, C, H, W) (use --pool none)");
  return flatten(y);
}

namespace detail {

DType model_dtype(Model& m) {
  for (auto& [name, p] : m.net->state())
    if (p->value.defined()) return p->value.dtype();
  return DType::F32;
}

void check_images(const Model& m, const Tensor& x, const char* what) {
  SV_CHECK(x.defined() && x.ndim() == 4, ShapeError,
           std::string(what) + ": expected images (N, C, H, W), got " + (x.defined() ? shape_str(x.shape()) : "nothing"));
  SV_CHECK(x.dim(0) > 0, ShapeError, std::string(what) + ": no images (N = 0)");
  SV_CHECK(x.dim(1) == m.info.in_channels, ShapeError,
           std::string(what) + ": images have " + std::to_string(x.dim(1)) + " channels, the model " + m.info.arch +
               " takes " + std::to_string(m.info.in_channels));
}

Recorded record_forward(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x) {
  check_images(m, x, "input");
  model_to(m, be);
  Recorded r;
  r.graph = std::make_unique<Graph>(be, true);
  r.x = r.graph->input(x.to(model_dtype(m)), true);
  r.phi = layer_features(m, *r.graph, r.x, layer, pool);
  return r;
}

Tensor k_stacked_cotangent(const Tensor& G, const Shape& phi_shape, const std::string& layer, Pool pool) {
  const std::string want = "(N, D) = " + shape_str(phi_shape) + " or (K, " + shape_str(phi_shape).substr(1);
  SV_CHECK(G.defined() && (G.ndim() == 2 || G.ndim() == 3), ShapeError,
           "cotangent G has shape " + (G.defined() ? shape_str(G.shape()) : std::string("()")) + "; the features of layer '" +
               layer + "' (pool " + pool_name(pool) + ") need " + want);
  Tensor g3 = G.ndim() == 2 ? G.reshape({1, G.dim(0), G.dim(1)}) : G;
  SV_CHECK(g3.dim(1) == phi_shape[0] && g3.dim(2) == phi_shape[1], ShapeError,
           "cotangent G has shape " + shape_str(G.shape()) + " but the features of layer '" + layer + "' (pool " +
               pool_name(pool) + ") for these " + std::to_string(phi_shape[0]) + " images have shape " +
               shape_str(phi_shape) + ": G must be " + want);
  SV_CHECK(g3.dim(0) > 0, ShapeError, "cotangent G has no cotangents (K = 0)");
  return g3;
}

void copy_rows(Tensor& dst, int64_t row0, const Tensor& src) {
  SV_CHECK(dst.is_cpu() && src.is_cpu() && dst.dtype() == src.dtype(), Error, "copy_rows: host tensors of one dtype");
  const int64_t row = dst.dim(0) == 0 ? 0 : dst.numel() / dst.dim(0);
  SV_CHECK(src.numel() % std::max<int64_t>(row, 1) == 0 && row0 * row + src.numel() <= dst.numel(), Error,
           "copy_rows: " + shape_str(src.shape()) + " does not fit into " + shape_str(dst.shape()));
  const size_t es = dtype_size(dst.dtype());
  std::memcpy(static_cast<char*>(dst.raw()) + static_cast<size_t>(row0 * row) * es, src.raw(), src.nbytes());
}

Tensor chunked_vjp(Recorded& r, const Tensor& cot, int64_t max_k, const ProgressFn& progress) {
  Backend& be = r.graph->backend();
  const int64_t K = cot.dim(0);
  Shape out_shape = r.x.shape();
  out_shape.insert(out_shape.begin(), K);
  Tensor out = Tensor::empty(out_shape, r.x.value.dtype());
  const Tensor c = cot.to(r.phi.value.dtype());
  for_each_chunk(K, max_k, [&](int64_t k0, int64_t k1) {
    std::vector<Tensor> g = r.graph->vjp(r.phi, c.slice0(k0, k1), {r.x});
    copy_rows(out, k0, be.download(g[0]));
    if (progress) progress(k1, K);
  });
  return out;
}

}  // namespace detail

Tensor features(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x, int64_t max_batch,
                const ProgressFn& progress) {
  detail::check_images(m, x, "features");
  model_to(m, be);
  const int64_t N = x.dim(0);
  const Tensor xs = x.to(detail::model_dtype(m));
  Tensor out;
  for_each_chunk(N, max_batch, [&](int64_t n0, int64_t n1) {
    Graph g(be, false);
    Var phi = layer_features(m, g, g.input(xs.slice0(n0, n1)), layer, pool);
    Tensor host = be.download(phi.value);
    if (!out.defined()) out = Tensor::empty({N, host.dim(1)}, host.dtype());
    detail::copy_rows(out, n0, host);
    if (progress) progress(n1, N);
  });
  return out;
}

std::vector<Tensor> features_at(Model& m, Backend& be, const std::vector<FeatureLayer>& layers, const Tensor& x,
                                int64_t max_batch, const ProgressFn& progress) {
  SV_CHECK(!layers.empty(), ValueError, "features_at: no layer given");
  if (layers.size() == 1) return {features(m, be, layers[0].layer, layers[0].pool, x, max_batch, progress)};
  detail::check_images(m, x, "features");
  for (const FeatureLayer& l : layers) m.check_layer(l.layer);
  model_to(m, be);
  const int64_t N = x.dim(0);
  const Tensor xs = x.to(detail::model_dtype(m));
  std::vector<Tensor> out(layers.size());
  for_each_chunk(N, max_batch, [&](int64_t n0, int64_t n1) {
    Graph g(be, false);
    Forward fw(g);  // the whole model, every requested layer made as itself
    for (const FeatureLayer& l : layers) fw.keep(l.layer);
    std::vector<Var> seen(layers.size());
    fw.observe = [&](const std::string& path, const Var& y) {
      for (size_t k = 0; k < layers.size(); ++k)
        if (path == layers[k].layer && !seen[k].value.defined()) seen[k] = y;
    };
    m.net->forward(g.input(xs.slice0(n0, n1)), fw);
    for (size_t k = 0; k < layers.size(); ++k) {
      SV_CHECK(seen[k].value.defined(), ValueError,
               "layer '" + layers[k].layer + "' is not reached by the forward pass of " + m.info.arch);
      Tensor host = be.download(pool_features(seen[k], layers[k].layer, layers[k].pool).value);
      if (!out[k].defined()) out[k] = Tensor::empty({N, host.dim(1)}, host.dtype());
      detail::copy_rows(out[k], n0, host);
    }
    if (progress) progress(n1, N);
  });
  return out;
}

Tensor vjp(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x, const Tensor& G, int64_t max_k,
           const ProgressFn& progress) {
  // Check G's rank before the forward pass, its sizes after (D is known only then).
  SV_CHECK(G.defined() && (G.ndim() == 2 || G.ndim() == 3), ShapeError,
           "cotangent G must be (N, D) or (K, N, D), got " + (G.defined() ? shape_str(G.shape()) : std::string("nothing")));
  detail::Recorded r = detail::record_forward(m, be, layer, pool, x);
  const Tensor cot = detail::k_stacked_cotangent(G, r.phi.shape(), layer, pool);
  Tensor out = detail::chunked_vjp(r, cot, max_k, progress);
  return G.ndim() == 2 ? out.reshape(x.shape()) : out;
}

Tensor jacobian(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                const std::vector<int64_t>& dims, int64_t max_k, const ProgressFn& progress) {
  SV_CHECK(!dims.empty(), ValueError, "jacobian: no dims given");
  detail::Recorded r = detail::record_forward(m, be, layer, pool, x);
  const int64_t N = r.phi.dim(0), D = r.phi.dim(1), K = static_cast<int64_t>(dims.size());
  for (int64_t d : dims)
    SV_CHECK(d >= 0 && d < D, ValueError,
             "jacobian: dim " + std::to_string(d) + " is out of range: the features of layer '" + layer + "' (pool " +
                 pool_name(pool) + ") have D = " + std::to_string(D) + " dims (0 .. " + std::to_string(D - 1) + ")");
  Tensor cot = Tensor::zeros({K, N, D}, DType::F64);
  double* c = cot.data<double>();
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) c[(k * N + n) * D + dims[k]] = 1.0;
  return detail::chunked_vjp(r, cot, max_k, progress);
}

}  // namespace sv
