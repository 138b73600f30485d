// The research-primitive commands: features, vjp, ig, jacobian. Each checks its output
// path and its inputs before computing, and writes its result atomically, so a failed run
// leaves no output file behind.
#include <cstdio>

#include "apps/cli_common.h"
#include "apps/report/progress.h"
#include "apps/commands.h"
#include "apps/io/atomic_file.h"
#include "apps/io/npy.h"

namespace sv {

namespace {

struct PrimitiveOptions {
  ModelOptions model;
  LayerOptions layer;
  std::vector<std::string> inputs;
  std::string cotangent, out;
  int steps = 32;
  std::string baseline = "zero", rule = "gausslegendre", dims;
};

CLI::App* add_primitive(CLI::App& app, const char* name, const char* help, PrimitiveOptions& o) {
  CLI::App* cmd = app.add_subcommand(name, help);
  add_model_options(cmd, o.model);
  add_layer_options(cmd, o.layer);
  cmd->add_option("--input", o.inputs, "input tensor X.npy (N, C, H, W), used as is, or image files (eval transform)")
      ->required();
  cmd->add_option("--out", o.out, "output .npy file")->required();
  return cmd;
}

void add_cotangent(CLI::App* cmd, PrimitiveOptions& o) {
  cmd->add_option("--cotangent", o.cotangent, "cotangent G.npy: (N, D) or (K, N, D) for K cotangents per image")
      ->required();
}

// Reads G and checks it against the N input images before any work.
Tensor read_cotangent(const std::string& path, int64_t N) {
  Tensor G = read_npy(path);
  SV_CHECK(G.ndim() == 2 || G.ndim() == 3, ShapeError,
           path + ": cotangent has shape " + shape_str(G.shape()) + ", expected (N, D) or (K, N, D)");
  const int64_t gn = G.dim(G.ndim() - 2);
  SV_CHECK(gn == N, ShapeError,
           path + ": cotangent has shape " + shape_str(G.shape()) + " for " + std::to_string(gn) + " images, the input has " +
               std::to_string(N));
  return G;
}

void report(const char* what, const Tensor& t, const std::string& out, const PrimitiveOptions& o, const Session& s) {
  std::printf("%s: wrote %s to %s (layer %s, pool %s, %s)\n", what, shape_str(t.shape()).c_str(), out.c_str(),
              o.layer.layer.c_str(), o.layer.pool.c_str(), s.backend->name().c_str());
}

void run_features(const PrimitiveOptions& o) {
  check_output_path(o.out);
  Session s = open_session(o.model);
  const Tensor x = load_inputs(o.inputs, s.model.info);
  ProgressLine bar("features", "images", true);
  Tensor f = features(s.model, *s.backend, o.layer.layer, parse_pool(o.layer.pool), x, o.model.max_batch, bar.fn());
  bar.finish();
  write_npy(o.out, f);
  report("features", f, o.out, o, s);
}

void run_vjp(const PrimitiveOptions& o) {
  check_output_path(o.out);
  Session s = open_session(o.model);
  const Tensor x = load_inputs(o.inputs, s.model.info);
  const Tensor G = read_cotangent(o.cotangent, x.dim(0));
  ProgressLine bar("vjp", "cotangents", true);
  Tensor r = vjp(s.model, *s.backend, o.layer.layer, parse_pool(o.layer.pool), x, G, o.model.max_batch, bar.fn());
  bar.finish();
  write_npy(o.out, r);
  report("vjp", r, o.out, o, s);
}

void run_ig(const PrimitiveOptions& o) {
  check_output_path(o.out);
  const IgRule rule = parse_ig_rule(o.rule);
  std::vector<double> t, w;
  quadrature(rule, o.steps, t, w);  // validates --steps for the rule before any work
  Session s = open_session(o.model);
  const Tensor x = load_inputs(o.inputs, s.model.info);
  const Tensor G = read_cotangent(o.cotangent, x.dim(0));
  const Tensor baseline = make_baseline(o.baseline, x, s.model.info);
  const Pool pool = parse_pool(o.layer.pool);
  ProgressLine bar("ig", "points", true);  // interpolation points: images x steps
  Tensor S = integrated_gradients(s.model, *s.backend, o.layer.layer, pool, x, G, baseline, o.steps, rule,
                                  o.model.max_batch, bar.fn());
  bar.finish();
  const Tensor fx = features(s.model, *s.backend, o.layer.layer, pool, x, o.model.max_batch);
  const Tensor fb = features(s.model, *s.backend, o.layer.layer, pool, baseline, o.model.max_batch);
  const std::vector<double> gap = ig_completeness_gap(S, G, fx, fb);
  write_npy(o.out, S);
  report("ig", S, o.out, o, s);
  std::printf("ig: %d %s steps, baseline %s; completeness gap |sum S - (<G,phi(x)> - <G,phi(baseline)>)| / |...|:\n",
              o.steps, o.rule.c_str(), o.baseline.c_str());
  const int64_t N = x.dim(0), K = static_cast<int64_t>(gap.size()) / N;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) {
      if (K > 1)
        std::printf("  cotangent %lld image %lld: %.3e\n", static_cast<long long>(k), static_cast<long long>(n), gap[k * N + n]);
      else
        std::printf("  image %lld: %.3e\n", static_cast<long long>(n), gap[n]);
    }
}

void run_jacobian(const PrimitiveOptions& o) {
  check_output_path(o.out);
  const std::vector<int64_t> dims = parse_dims(o.dims);
  Session s = open_session(o.model);
  const Tensor x = load_inputs(o.inputs, s.model.info);
  ProgressLine bar("jacobian", "rows", true);
  Tensor J = jacobian(s.model, *s.backend, o.layer.layer, parse_pool(o.layer.pool), x, dims, o.model.max_batch, bar.fn());
  bar.finish();
  write_npy(o.out, J);
  report("jacobian", J, o.out, o, s);
}

}  // namespace

void add_features_command(CLI::App& app) {
  auto o = std::make_shared<PrimitiveOptions>();
  CLI::App* cmd = add_primitive(app, "features", "Features φ(x) of a layer: writes (N, D)", *o);
  cmd->callback([o] { run_features(*o); });
}

void add_vjp_command(CLI::App& app) {
  auto o = std::make_shared<PrimitiveOptions>();
  CLI::App* cmd = add_primitive(app, "vjp", "∂<G, φ(x)>/∂x: G (N, D) -> (N, C, H, W); G (K, N, D) -> (K, N, C, H, W)", *o);
  add_cotangent(cmd, *o);
  cmd->callback([o] { run_vjp(*o); });
}

void add_ig_command(CLI::App& app) {
  auto o = std::make_shared<PrimitiveOptions>();
  CLI::App* cmd = add_primitive(app, "ig", "Integrated Gradients of <G, φ>, with the completeness gap per image", *o);
  add_cotangent(cmd, *o);
  cmd->add_option("--steps", o->steps, "quadrature nodes")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--baseline", o->baseline, "zero, black, blur (σ = 10% of width), mean, or B.npy")
      ->capture_default_str();
  cmd->add_option("--ig-rule", o->rule, "quadrature rule")
      ->check(CLI::IsMember({"gausslegendre", "midpoint", "trapezoid"}))
      ->capture_default_str();
  cmd->callback([o] { run_ig(*o); });
}

void add_jacobian_command(CLI::App& app) {
  auto o = std::make_shared<PrimitiveOptions>();
  CLI::App* cmd = add_primitive(app, "jacobian", "Jacobian rows ∂φ_d/∂x for the listed dims: writes (K, N, C, H, W)", *o);
  cmd->add_option("--dims", o->dims, "feature dims, comma-separated (e.g. 0,5,17)")->required();
  cmd->callback([o] { run_jacobian(*o); });
}

}  // namespace sv
