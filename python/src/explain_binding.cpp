// sharedvis._core.explain: run_explain (apps/explain.h) on options given as a dict whose
// keys are ExplainOptions' field names (the CLI's flags with '_' for '-'). The Python layer
// (sharedvis/_explain.py) turns in-memory inputs into files in a temporary folder and reads
// the results back. The run writes its output folder atomically: interrupted (Ctrl-C at a
// progress report) or failed, it leaves no folder under the final name.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <stb_image_write.h>

#include <cstdint>

#include "apps/explain.h"
#include "arrays.h"
#include "calls.h"

namespace svpy {

namespace {

template <class T> void take(const nb::dict& d, const char* key, T& field) {
  if (d.contains(key)) field = nb::cast<T>(d[key]);
}

// Every option the dict may hold: its key (ExplainOptions' field name), the field, and
// whether explain_defaults lists it (the inputs, the output folder and λ are not; the
// defaults give lambda_grid for lambda_lo, lambda_hi and lambda_n).
template <class F>
void visit_options(sv::ExplainOptions& o, F&& f) {
  f("responses", o.responses, false);
  f("preferred", o.preferred, false);
  f("images", o.images, false);
  f("dataset", o.dataset, false);
  f("data_dir", o.data_dir, false);
  f("split", o.split, true);
  f("limit", o.limit, true);
  f("synthetic", o.synthetic, false);
  f("model", o.model, false);
  f("layer", o.layer, false);
  f("pool", o.pool, true);
  f("fit_on", o.fit_on, true);
  f("lambda", o.lambda, false);
  f("lambda_lo", o.lambda_lo, false);
  f("lambda_hi", o.lambda_hi, false);
  f("lambda_n", o.lambda_n, false);
  f("folds", o.folds, true);
  f("lambda_rule", o.lambda_rule, true);
  f("seed", o.seed, true);
  f("top_ooc", o.top_ooc, true);
  f("top_k", o.top_k, true);
  f("top_dims", o.top_dims, true);
  f("similarity", o.similarity, true);
  f("shared", o.shared, true);
  f("attr", o.attr, true);
  f("steps", o.steps, true);
  f("ig_rule", o.ig_rule, true);
  f("baseline", o.baseline, true);
  f("max_batch", o.max_batch, true);
  f("feature_batch", o.feature_batch, true);
  f("device", o.device, true);
  f("threads", o.threads, true);
  f("reduce", o.reduce, true);
  f("smooth", o.smooth, true);
  f("smooth_min_px", o.smooth_min_px, true);
  f("decomposition_scale", o.decomposition_scale, true);
  f("clip_percentile", o.clip_percentile, true);
  f("colormap", o.colormap, true);
  f("faithfulness", o.faithfulness, true);
  f("faith_steps", o.faith_steps, true);
  f("faith_baseline", o.faith_baseline, true);
  f("randomisation", o.randomisation, true);
  f("randomisation_seed", o.randomisation_seed, true);
  f("synthetic_source", o.synthetic_source, true);
  f("noise", o.noise, true);
  f("repeats", o.repeats, true);
  f("out", o.out, false);
  f("work", o.work, false);
  f("stage", o.stage, false);
  f("shard", o.shard, false);
}

sv::ExplainOptions to_options(const nb::dict& d) {
  sv::ExplainOptions o;
  size_t used = 0;
  visit_options(o, [&](const char* key, auto& field, bool) {
    if (d.contains(key)) {
      take(d, key, field);
      ++used;
    }
  });
  SV_CHECK(used == d.size(), sv::ValueError, "explain: an unknown option among " + nb::cast<std::string>(nb::str(d.attr("keys")())));
  o.progress = false;  // the Python layer draws its own bar from the progress hook
  return o;
}

nb::dict explain(const nb::dict& options, nb::object progress) {
  const sv::ExplainOptions o = to_options(options);
  const Reporter r(std::move(progress));
  sv::ExplainSummary s;
  {
    nb::gil_scoped_release nogil;
    ScopedProgressHook hook(r.hook());
    s = sv::run_explain(o);
  }
  nb::dict d;
  d["out_dir"] = s.out_dir;
  d["neurons"] = s.neurons;
  d["skipped"] = s.skipped;
  d["pairs"] = s.pairs;
  d["seconds"] = s.seconds;
  d["message"] = s.message;
  return d;
}

// 8-bit pixels (H, W) or (H, W, C) as a PNG with C channels (explain's in-memory images).
void write_png(const std::string& path, const nb::ndarray<nb::ro, uint8_t, nb::c_contig, nb::device::cpu>& a) {
  const int c = a.ndim() == 2 ? 1 : static_cast<int>(a.shape(2));
  SV_CHECK((a.ndim() == 2 || a.ndim() == 3) && (c == 1 || c == 3), sv::ValueError,
           path + ": expected uint8 pixels (H, W), (H, W, 1) or (H, W, 3)");
  const int h = static_cast<int>(a.shape(0)), w = static_cast<int>(a.shape(1));
  SV_CHECK(stbi_write_png(path.c_str(), w, h, c, a.data(), w * c) != 0, sv::IoError, path + ": cannot write PNG");
}

// ExplainOptions' defaults under the Python layer's names (lambda_grid as (lo, hi, n)).
nb::dict explain_defaults() {
  sv::ExplainOptions o;
  nb::dict d;
  visit_options(o, [&](const char* key, auto& field, bool listed) {
    if (listed) d[key] = field;
  });
  d["lambda_grid"] = nb::make_tuple(o.lambda_lo, o.lambda_hi, o.lambda_n);
  return d;
}

}  // namespace

void bind_explain(nb::module_& mod) {
  mod.def("explain", &explain, nb::arg("options"), nb::arg("progress").none());
  mod.def("explain_defaults", &explain_defaults);
  mod.def("write_png", &write_png, nb::arg("path"), nb::arg("pixels"));
  mod.def("default_synthetic_labels", &sv::default_synthetic_labels);
}

}  // namespace svpy
