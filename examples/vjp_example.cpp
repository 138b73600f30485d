// sharedvis as a library: load a model, run one forward pass to a layer, and take K = 16
// vector-Jacobian products of its pooled features in one multi-output backward pass.
//
//   vjp_example [MODEL.safetensors] [OUT_DIR]
//
// Writes OUT_DIR/x.npy (the input batch, (N, C, H, W)), OUT_DIR/G.npy (the cotangents,
// (K, N, D)) and OUT_DIR/vjp.npy (∂<G_k, φ(x)>/∂x, (K, N, C, H, W)); `sharedvis vjp` on the
// same files gives the same numbers. Without arguments it uses the installed bundled
// Fashion-MNIST model (found by find_package: sharedvis_DATA_DIR) and the current folder. Links sharedvis::engine (CPU only), ::models and ::io.
#include <sharedvis/apps/io/npy.h>
#include <sharedvis/autodiff/graph.h>
#include <sharedvis/backends/factory.h>
#include <sharedvis/layers/module.h>
#include <sharedvis/layers/ops.h>
#include <sharedvis/weights/model.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) try {
  const std::string model_path = argc > 1 ? argv[1] : SHAREDVIS_EXAMPLE_MODEL;
  const std::string out_dir = argc > 2 ? argv[2] : ".";
  const std::string layer = "features";
  const int64_t N = 2, K = 16;

  sv::Model m = sv::load_model(model_path);
  const int64_t C = m.info.in_channels, S = m.info.input_size;
  std::unique_ptr<sv::Backend> be = sv::make_backend("cpu");

  // A smooth deterministic input batch (N, C, S, S).
  sv::Tensor x = sv::Tensor::empty({N, C, S, S});
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) px[i] = static_cast<float>(std::sin(0.01 * static_cast<double>(i)));

  // One forward pass, stopped at the layer; φ is the spatial mean of its output (N, D).
  sv::Graph g(*be);
  sv::Var xv = g.input(x, /*requires_grad=*/true);
  sv::Forward fw(g, layer);
  m.net->forward(xv, fw);
  sv::Var phi = sv::global_avgpool(fw.captured());
  const int64_t D = phi.dim(1);

  // K cotangents (K, N, D): cotangent k selects feature dim k mod D of every image.
  sv::Tensor G = sv::Tensor::zeros({K, N, D});
  float* pg = G.data<float>();
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) pg[(k * N + n) * D + k % D] = 1.0f;

  // One multi-output backward pass: (K, N, C, S, S).
  const sv::Tensor gx = be->download(g.vjp(phi, G, {xv})[0]);

  sv::write_npy(out_dir + "/x.npy", x);
  sv::write_npy(out_dir + "/G.npy", G);
  sv::write_npy(out_dir + "/vjp.npy", gx);
  std::printf("%s: layer %s, D = %lld, vjp (%lld, %lld, %lld, %lld, %lld) written to %s/vjp.npy\n",
              m.info.arch.c_str(), layer.c_str(), static_cast<long long>(D), static_cast<long long>(K),
              static_cast<long long>(N), static_cast<long long>(C), static_cast<long long>(S),
              static_cast<long long>(S), out_dir.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "vjp_example: %s\n", e.what());
  return 1;
}
