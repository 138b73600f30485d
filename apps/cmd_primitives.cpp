// The research-primitive commands: features, vjp, ig, jacobian. Each checks its output
// path and its inputs before computing, and writes its result atomically, so a failed run
// leaves no output file behind. NaN and infinity are errors unless --allow-nonfinite: in
// the inputs and cotangents (named, with the first bad element), and in the result, where
// the error names the first module whose output is not finite (or the backward pass).
#include <cstdio>
#include <fstream>
#include <functional>
#include <new>
#include <stdexcept>

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
  bool allow_nonfinite = false;
};

CLI::App* add_primitive(CLI::App& app, const char* name, const char* help, PrimitiveOptions& o) {
  CLI::App* cmd = app.add_subcommand(name, help);
  add_model_options(cmd, o.model);
  add_layer_options(cmd, o.layer);
  cmd->add_option("--input", o.inputs, "input tensor X.npy (N, C, H, W), used as is, or image files (eval transform)")
      ->required();
  cmd->add_option("--out", o.out, "output .npy file")->required();
  cmd->add_flag("--allow-nonfinite", o.allow_nonfinite,
                "accept NaN and infinity in the inputs, cotangents and result (by default each is an error)");
  return cmd;
}

// Bytes of memory available to this process now (Linux: MemAvailable), or 0 when unknown.
uint64_t available_memory() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// The result is held in host memory whole (and written after): a request larger than the
// memory available is refused up front with the numbers, instead of growing toward the
// out-of-memory killer. `what` names the result, shape its (K, N, ...) shape.
void check_result_fits(const std::string& what, const Shape& shape) {
  const double bytes = static_cast<double>(shape_numel(shape)) * 4.0;
  const uint64_t avail = available_memory();
  SV_CHECK(avail == 0 || bytes <= 0.8 * static_cast<double>(avail), ValueError,
           what + " would be " + shape_str(shape) + " float32 = " + std::to_string(bytes / (1 << 20)) + " MiB, more than " +
               "the memory available (" + std::to_string(static_cast<double>(avail) / (1 << 20)) +
               " MiB); split the input into smaller runs");
}

// A NaN or infinity in an input is an error naming it and the first bad element.
void check_finite_input(const Tensor& t, const std::string& what, const PrimitiveOptions& o) {
  if (o.allow_nonfinite) return;
  const int64_t i = first_nonfinite(t);
  SV_CHECK(i < 0, ValueError,
           what + " holds a non-finite value (" + std::to_string(t.item(i)) + " at flat index " + std::to_string(i) +
               " of " + shape_str(t.shape()) + "); fix the input or pass --allow-nonfinite");
}

// A non-finite result is an error naming where it arose: the first module whose forward
// output for the offending image is not finite, or else the backward pass. r holds K
// blocks of N images' rows, K-major: (N, ...) for K = 1 or (K, N, ...).
void check_finite_result(const char* what, const Tensor& r, int64_t K, const Tensor& x, Session& s,
                         const PrimitiveOptions& o) {
  if (o.allow_nonfinite) return;
  const int64_t i = first_nonfinite(r);
  if (i < 0) return;
  const int64_t N = x.dim(0), per_image = r.numel() / (K * N);
  const int64_t n = (i / per_image) % N;
  const std::string stage = first_nonfinite_module(s.model, *s.backend, o.layer.layer, x.slice0(n, n + 1));
  throw ValueError(std::string(what) + ": the result is not finite (" + std::to_string(r.item(i)) + " at flat index " +
                   std::to_string(i) + ", image " + std::to_string(n) + "); " +
                   (stage.empty() ? "the forward pass up to " + o.layer.layer + " is finite, so the backward pass is not"
                                  : "first non-finite module output: " + stage) +
                   " (values too large for float32?); pass --allow-nonfinite to write it anyway");
}

void add_cotangent(CLI::App* cmd, PrimitiveOptions& o) {
  cmd->add_option("--cotangent", o.cotangent, "cotangent G.npy: (N, D) or (K, N, D) for K cotangents per image")
      ->required();
}

// Reads G and checks it against the N input images before any work.
Tensor read_cotangent(const std::string& path, int64_t N, const PrimitiveOptions& o) {
  Tensor G = read_npy(path);
  check_finite_input(G, path, o);
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
  check_finite_input(x, "--input", o);
  ProgressLine bar("features", "images", true);
  Tensor f = features(s.model, *s.backend, o.layer.layer, parse_pool(o.layer.pool), x, o.model.max_batch, bar.fn());
  bar.finish();
  check_finite_result("features", f, 1, x, s, o);
  write_npy(o.out, f);
  report("features", f, o.out, o, s);
}

void run_vjp(const PrimitiveOptions& o) {
  check_output_path(o.out);
  Session s = open_session(o.model);
  const Tensor x = load_inputs(o.inputs, s.model.info);
  check_finite_input(x, "--input", o);
  const Tensor G = read_cotangent(o.cotangent, x.dim(0), o);
  check_result_fits("the vjp", fold_k(x.shape(), G.ndim() == 3 ? G.dim(0) : 1));
  ProgressLine bar("vjp", "cotangents", true);
  Tensor r = vjp(s.model, *s.backend, o.layer.layer, parse_pool(o.layer.pool), x, G, o.model.max_batch, bar.fn());
  bar.finish();
  check_finite_result("vjp", r, G.ndim() == 3 ? G.dim(0) : 1, x, s, o);
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
  check_finite_input(x, "--input", o);
  const Tensor G = read_cotangent(o.cotangent, x.dim(0), o);
  const Tensor baseline = make_baseline(o.baseline, x, s.model.info);
  check_finite_input(baseline, "--baseline " + o.baseline, o);
  check_result_fits("the attributions", fold_k(x.shape(), G.ndim() == 3 ? G.dim(0) : 1));
  const Pool pool = parse_pool(o.layer.pool);
  ProgressLine bar("ig", "points", true);  // interpolation points: images x steps
  Tensor S = integrated_gradients(s.model, *s.backend, o.layer.layer, pool, x, G, baseline, o.steps, rule,
                                  o.model.max_batch, bar.fn());
  bar.finish();
  const Tensor fx = features(s.model, *s.backend, o.layer.layer, pool, x, o.model.max_batch);
  const Tensor fb = features(s.model, *s.backend, o.layer.layer, pool, baseline, o.model.max_batch);
  const std::vector<double> gap = ig_completeness_gap(S, G, fx, fb);
  check_finite_result("ig", S, G.ndim() == 3 ? G.dim(0) : 1, x, s, o);
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
  check_finite_input(x, "--input", o);
  check_result_fits("the Jacobian rows", fold_k(x.shape(), static_cast<int64_t>(dims.size())));
  ProgressLine bar("jacobian", "rows", true);
  Tensor J = jacobian(s.model, *s.backend, o.layer.layer, parse_pool(o.layer.pool), x, dims, o.model.max_batch, bar.fn());
  bar.finish();
  check_finite_result("jacobian", J, static_cast<int64_t>(dims.size()), x, s, o);
  write_npy(o.out, J);
  report("jacobian", J, o.out, o, s);
}

// Runs a command; running out of memory anyway (std::bad_alloc, or a size too large for a
// container) becomes an error naming the command and its inputs.
void guarded(const char* what, const PrimitiveOptions& o, const std::function<void()>& run) {
  try {
    run();
  } catch (const std::bad_alloc&) {
    std::string in;
    for (const std::string& p : o.inputs) in += (in.empty() ? "" : " ") + p;
    throw Error(std::string(what) + ": out of memory for --input " + in +
                "; use fewer images per run or a smaller --max-batch");
  } catch (const std::length_error& e) {
    throw Error(std::string(what) + ": a size computed from the input is too large (" + e.what() + ")");
  }
}

}  // namespace

void add_features_command(CLI::App& app) {
  auto o = std::make_shared<PrimitiveOptions>();
  CLI::App* cmd = add_primitive(app, "features", "Features φ(x) of a layer: writes (N, D)", *o);
  cmd->callback([o] { guarded("features", *o, [&] { run_features(*o); }); });
}

void add_vjp_command(CLI::App& app) {
  auto o = std::make_shared<PrimitiveOptions>();
  CLI::App* cmd = add_primitive(app, "vjp", "∂<G, φ(x)>/∂x: G (N, D) -> (N, C, H, W); G (K, N, D) -> (K, N, C, H, W)", *o);
  add_cotangent(cmd, *o);
  cmd->callback([o] { guarded("vjp", *o, [&] { run_vjp(*o); }); });
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
  cmd->callback([o] { guarded("ig", *o, [&] { run_ig(*o); }); });
}

void add_jacobian_command(CLI::App& app) {
  auto o = std::make_shared<PrimitiveOptions>();
  CLI::App* cmd = add_primitive(app, "jacobian", "Jacobian rows ∂φ_d/∂x for the listed dims: writes (K, N, C, H, W)", *o);
  cmd->add_option("--dims", o->dims, "feature dims, comma-separated (e.g. 0,5,17)")->required();
  cmd->callback([o] { guarded("jacobian", *o, [&] { run_jacobian(*o); }); });
}

}  // namespace sv
