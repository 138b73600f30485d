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

sv::ExplainOptions to_options(const nb::dict& d) {
  sv::ExplainOptions o;
  size_t used = 0;
  auto get = [&](const char* key, auto& field) {
    if (d.contains(key)) {
      take(d, key, field);
      ++used;
    }
  };
  get("responses", o.responses);
  get("preferred", o.preferred);
  get("images", o.images);
  get("dataset", o.dataset);
  get("data_dir", o.data_dir);
  get("split", o.split);
  get("limit", o.limit);
  get("synthetic", o.synthetic);
  get("model", o.model);
  get("layer", o.layer);
  get("pool", o.pool);
  get("fit_on", o.fit_on);
  get("lambda", o.lambda);
  get("lambda_lo", o.lambda_lo);
  get("lambda_hi", o.lambda_hi);
  get("lambda_n", o.lambda_n);
  get("folds", o.folds);
  get("lambda_rule", o.lambda_rule);
  get("seed", o.seed);
  get("top_ooc", o.top_ooc);
  get("top_k", o.top_k);
  get("top_dims", o.top_dims);
  get("similarity", o.similarity);
  get("shared", o.shared);
  get("attr", o.attr);
  get("steps", o.steps);
  get("ig_rule", o.ig_rule);
  get("baseline", o.baseline);
  get("max_batch", o.max_batch);
  get("feature_batch", o.feature_batch);
  get("device", o.device);
  get("threads", o.threads);
  get("reduce", o.reduce);
  get("smooth", o.smooth);
  get("smooth_min_px", o.smooth_min_px);
  get("decomposition_scale", o.decomposition_scale);
  get("clip_percentile", o.clip_percentile);
  get("colormap", o.colormap);
  get("faithfulness", o.faithfulness);
  get("faith_steps", o.faith_steps);
  get("faith_baseline", o.faith_baseline);
  get("randomisation", o.randomisation);
  get("randomisation_seed", o.randomisation_seed);
  get("synthetic_source", o.synthetic_source);
  get("noise", o.noise);
  get("repeats", o.repeats);
  get("out", o.out);
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
  const sv::ExplainOptions o;
  nb::dict d;
  d["split"] = o.split;
  d["limit"] = o.limit;
  d["pool"] = o.pool;
  d["fit_on"] = o.fit_on;
  d["lambda_grid"] = nb::make_tuple(o.lambda_lo, o.lambda_hi, o.lambda_n);
  d["folds"] = o.folds;
  d["lambda_rule"] = o.lambda_rule;
  d["seed"] = o.seed;
  d["top_ooc"] = o.top_ooc;
  d["top_k"] = o.top_k;
  d["top_dims"] = o.top_dims;
  d["similarity"] = o.similarity;
  d["shared"] = o.shared;
  d["attr"] = o.attr;
  d["steps"] = o.steps;
  d["ig_rule"] = o.ig_rule;
  d["baseline"] = o.baseline;
  d["max_batch"] = o.max_batch;
  d["feature_batch"] = o.feature_batch;
  d["device"] = o.device;
  d["threads"] = o.threads;
  d["reduce"] = o.reduce;
  d["smooth"] = o.smooth;
  d["smooth_min_px"] = o.smooth_min_px;
  d["decomposition_scale"] = o.decomposition_scale;
  d["clip_percentile"] = o.clip_percentile;
  d["colormap"] = o.colormap;
  d["faithfulness"] = o.faithfulness;
  d["faith_steps"] = o.faith_steps;
  d["faith_baseline"] = o.faith_baseline;
  d["randomisation"] = o.randomisation;
  d["randomisation_seed"] = o.randomisation_seed;
  d["synthetic_source"] = o.synthetic_source;
  d["noise"] = o.noise;
  d["repeats"] = o.repeats;
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
