// The research-primitive commands: features, vjp, ig, jacobian. Each checks its output
// path and its inputs before computing, and writes its result atomically, so a failed run
// leaves no output file behind. NaN and infinity are errors unless --allow-nonfinite: in
// the inputs and cotangents (named, with the first bad element), and in the result, where
// the error names the first module whose output is not finite (or the backward pass).
#include <sys/statvfs.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <stdexcept>

#include "apps/cli_common.h"
#include "apps/report/progress.h"
#include "apps/commands.h"
#include "weights/atomic_file.h"
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
void check_finite_result(const char* what, const Tensor& r, int64_t K, const Tensor& x, int64_t n_offset, Session& s,
                         const PrimitiveOptions& o) {
  if (o.allow_nonfinite) return;
  const int64_t i = first_nonfinite(r);
  if (i < 0) return;
  const int64_t N = x.dim(0), per_image = r.numel() / (K * N);
  const int64_t n = (i / per_image) % N;
  const std::string stage = first_nonfinite_module(s.model, *s.backend, o.layer.layer, x.slice0(n, n + 1));
  throw ValueError(std::string(what) + ": the result is not finite (" + std::to_string(r.item(i)) + " at flat index " +
                   std::to_string(i) + ", image " + std::to_string(n_offset + n) + "); " +
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


void report_written(const char* what, const Shape& shape, const PrimitiveOptions& o, const Session& s) {
  std::printf("%s: wrote %s to %s (layer %s, pool %s, %s)\n", what, shape_str(shape).c_str(), o.out.c_str(),
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
  check_finite_result("features", f, 1, x, 0, s, o);
  write_npy(o.out, f);
  report_written("features", f.shape(), o, s);
}

// ---- results written in chunks of images
// vjp, ig and jacobian produce (K, N, C, H, W) (or (N, C, H, W) for K = 1 and a 2-D G):
// far more than their inputs. They run over chunks of images whose part of the result stays
// under 256 MiB (SHAREDVIS_RESULT_CHUNK_MB), each chunk written to its place in the output
// file as it comes, so memory stays bounded whatever N and K are; the file appears under
// its name at the end.
double chunk_bytes() {
  const char* v = std::getenv("SHAREDVIS_RESULT_CHUNK_MB");
  if (!v || !*v) return 256.0 * (1 << 20);
  char* end = nullptr;
  const double mb = std::strtod(v, &end);
  SV_CHECK(end && *end == 0 && mb > 0 && std::isfinite(mb), ValueError,
           std::string("SHAREDVIS_RESULT_CHUNK_MB=") + v + ": expected a positive number of MiB");
  return mb * (1 << 20);
}

struct Chunks {
  int64_t N, K, per_image, step;  // images, cotangents, values per image, images per chunk
  Chunks(const Tensor& x, int64_t K)
      : N(x.dim(0)), K(K), per_image(x.numel() / x.dim(0)),
        step(std::max<int64_t>(1, static_cast<int64_t>(chunk_bytes() / (4.0 * static_cast<double>(K * per_image))))) {}
};

// Refuses, before any work, a result larger than the free space of its folder, and a chunk
// larger than the memory available (one image's K rows).
void check_result_fits(const std::string& what, const std::string& out, const Chunks& c) {
  const double bytes = 4.0 * static_cast<double>(c.K) * static_cast<double>(c.N) * static_cast<double>(c.per_image);
  struct statvfs fs{};
  const std::string dir = std::filesystem::path(out).parent_path().empty()
                              ? std::string(".")
                              : std::filesystem::path(out).parent_path().string();
  if (::statvfs(dir.c_str(), &fs) == 0) {
    const double free_bytes = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
    SV_CHECK(bytes <= free_bytes, ValueError,
             what + " would be " + std::to_string(bytes / (1 << 20)) + " MiB, more than the free space of " + dir + " (" +
                 std::to_string(free_bytes / (1 << 20)) + " MiB)");
  }
  const double chunk = 4.0 * static_cast<double>(c.K) * static_cast<double>(std::min(c.step, c.N)) *
                       static_cast<double>(c.per_image);
  const uint64_t avail = available_memory();
  SV_CHECK(avail == 0 || chunk <= 0.8 * static_cast<double>(avail), ValueError,
           what + ": one image's " + std::to_string(c.K) + " rows are " + std::to_string(chunk / (1 << 20)) +
               " MiB, more than the memory available (" + std::to_string(static_cast<double>(avail) / (1 << 20)) +
               " MiB)");
}

// G's rows for images [n0, n1): (n1 - n0, D) from (N, D), (K, n1 - n0, D) from (K, N, D).
Tensor cotangent_rows(const Tensor& G, int64_t n0, int64_t n1) {
  if (G.ndim() == 2) return G.slice0(n0, n1);
  const int64_t K = G.dim(0), N = G.dim(1), D = G.dim(2), nc = n1 - n0;
  Tensor out = Tensor::empty({K, nc, D}, G.dtype());
  const size_t es = dtype_size(G.dtype());
  for (int64_t k = 0; k < K; ++k)
    std::memcpy(static_cast<char*>(out.raw()) + static_cast<size_t>(k * nc * D) * es,
                static_cast<const char*>(G.raw()) + static_cast<size_t>((k * N + n0) * D) * es,
                static_cast<size_t>(nc * D) * es);
  return out;
}

// Runs f on every chunk of images ([n0, n1) -> its (K, n1 - n0, ...) result), checks each
// chunk for non-finite values, and writes it into the (K, N, ...) file `out`. progress
// counts units (cotangents, points, rows) over all chunks; units_per_image converts.
void stream_chunks(const char* what, const std::string& out, const Shape& shape, const Chunks& c, const Tensor& x,
                   Session& s, const PrimitiveOptions& o, ProgressLine& bar, int64_t units_per_image,
                   const std::function<Tensor(int64_t, int64_t, const ProgressFn&)>& f) {
  NpyWriter file(out, shape);
  for (int64_t n0 = 0; n0 < c.N; n0 += c.step) {
    const int64_t n1 = std::min(c.N, n0 + c.step), nc = n1 - n0;
    const ProgressFn progress = [&](int64_t d, int64_t n) {
      bar.update(n0 * units_per_image + d * nc * units_per_image / std::max<int64_t>(n, 1), c.N * units_per_image);
    };
    const Tensor r = f(n0, n1, progress).to(DType::F32);
    check_finite_result(what, r, c.K, x.slice0(n0, n1), n0, s, o);
    for (int64_t k = 0; k < c.K; ++k)
      file.write((k * c.N + n0) * c.per_image, r.data<float>() + k * nc * c.per_image, nc * c.per_image);
  }
  file.commit();
}

Shape result_shape(const Tensor& x, int64_t K, bool k_dim) {
  Shape shape = x.shape();
  if (k_dim) shape.insert(shape.begin(), K);
  return shape;
}

void run_vjp(const PrimitiveOptions& o) {
  check_output_path(o.out);
  Session s = open_session(o.model);
  const Tensor x = load_inputs(o.inputs, s.model.info);
  check_finite_input(x, "--input", o);
  const Tensor G = read_cotangent(o.cotangent, x.dim(0), o);
  const int64_t K = G.ndim() == 3 ? G.dim(0) : 1;
  const Chunks c(x, K);
  check_result_fits("the vjp", o.out, c);
  const Shape shape = result_shape(x, K, G.ndim() == 3);
  ProgressLine bar("vjp", "cotangents", true);
  stream_chunks("vjp", o.out, shape, c, x, s, o, bar, K, [&](int64_t n0, int64_t n1, const ProgressFn& p) {
    return vjp(s.model, *s.backend, o.layer.layer, parse_pool(o.layer.pool), x.slice0(n0, n1),
               cotangent_rows(G, n0, n1), o.model.max_batch, p);
  });
  bar.finish();
  report_written("vjp", shape, o, s);
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
  const int64_t K = G.ndim() == 3 ? G.dim(0) : 1, N = x.dim(0);
  const Chunks c(x, K);
  check_result_fits("the attributions", o.out, c);
  const Shape shape = result_shape(x, K, G.ndim() == 3);
  const Pool pool = parse_pool(o.layer.pool);
  std::vector<double> gap(static_cast<size_t>(K * N));  // K-major, as ig_completeness_gap
  ProgressLine bar("ig", "points", true);  // interpolation points: images x steps
  stream_chunks("ig", o.out, shape, c, x, s, o, bar, o.steps, [&](int64_t n0, int64_t n1, const ProgressFn& p) {
    const Tensor xc = x.slice0(n0, n1), bc = baseline.slice0(n0, n1), Gc = cotangent_rows(G, n0, n1);
    Tensor S = integrated_gradients(s.model, *s.backend, o.layer.layer, pool, xc, Gc, bc, o.steps, rule,
                                    o.model.max_batch, p);
    const Tensor fx = features(s.model, *s.backend, o.layer.layer, pool, xc, o.model.max_batch);
    const Tensor fb = features(s.model, *s.backend, o.layer.layer, pool, bc, o.model.max_batch);
    const std::vector<double> g = ig_completeness_gap(S, Gc, fx, fb);
    const int64_t nc = n1 - n0;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < nc; ++n) gap[static_cast<size_t>(k * N + n0 + n)] = g[static_cast<size_t>(k * nc + n)];
    return S;
  });
  bar.finish();
  report_written("ig", shape, o, s);
  std::printf("ig: %d %s steps, baseline %s; completeness gap |sum S - (<G,phi(x)> - <G,phi(baseline)>)| / |...|:\n",
              o.steps, o.rule.c_str(), o.baseline.c_str());
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
  const int64_t K = static_cast<int64_t>(dims.size());
  const Chunks c(x, K);
  check_result_fits("the Jacobian rows", o.out, c);
  const Shape shape = result_shape(x, K, true);
  ProgressLine bar("jacobian", "rows", true);
  stream_chunks("jacobian", o.out, shape, c, x, s, o, bar, K, [&](int64_t n0, int64_t n1, const ProgressFn& p) {
    return jacobian(s.model, *s.backend, o.layer.layer, parse_pool(o.layer.pool), x.slice0(n0, n1), dims,
                    o.model.max_batch, p);
  });
  bar.finish();
  report_written("jacobian", shape, o, s);
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
      ->check(one_of(kIgRuleNames, "IG rule"))
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
