// ExplainOptions (strings, as the CLI and Python give them) -> ExplainConfig (typed), once.
#include "apps/explain_config.h"

#include <cmath>

#include "apps/method/faithfulness.h"
#include "apps/method/readout.h"

namespace sv {

namespace {

InputConfig input_config(const ExplainOptions& o) {
  InputConfig in;
  const int kinds = !o.responses.empty() + !o.images.empty() + !o.dataset.empty();
  SV_CHECK(kinds <= 1, ValueError, "give one input: --responses, --images or --dataset");
  in.responses = o.responses;
  in.preferred = o.preferred;
  in.images = o.images;
  in.data_dir = o.data_dir;
  in.limit = o.limit;
  in.synthetic = o.synthetic;
  in.source = parse_synthetic_source(o.synthetic_source);
  in.noise = o.noise;
  in.repeats = o.repeats;
  if (!o.responses.empty()) {
    in.kind = InputKind::Responses;
    SV_CHECK(o.synthetic.empty(), ValueError, "--synthetic does not apply to --responses (the neurons are recorded)");
    SV_CHECK(!o.preferred.empty(), ValueError, "--responses needs --preferred LABEL (the neurons' preferred category)");
    return in;
  }
  if (!o.images.empty()) {
    in.kind = InputKind::Images;
    SV_CHECK(!o.synthetic.empty(), ValueError, "--images needs --synthetic LABEL[,LABEL...] (the neurons to simulate)");
  } else {  // the dataset; with no input at all, the embedded default run
    in.kind = InputKind::Dataset;
    in.dataset = o.dataset.empty() ? "fashion-mnist" : o.dataset;
    if (in.synthetic.empty()) in.synthetic = default_synthetic_labels();
    SV_CHECK(in.dataset == "fashion-mnist", ValueError, "unknown --dataset '" + in.dataset + "' (expected fashion-mnist)");
    in.split = parse_enum(kSplitNames, o.split, "--split");
  }
  SV_CHECK(!in.synthetic.empty(), ValueError, "--synthetic: give at least one category");
  SV_CHECK(o.repeats >= 1, ValueError, "--repeats must be at least 1");
  return in;
}

}  // namespace

ExplainConfig make_config(const ExplainOptions& o) {
  ExplainConfig c;
  c.model.path = o.model;
  c.model.layer = o.layer;
  c.model.pool = parse_pool(o.pool);
  c.model.device = o.device;
  c.model.threads = o.threads;
  c.model.feature_batch = o.feature_batch;
  c.pairs.similarity = parse_similarity(o.similarity);
  c.pairs.shared = parse_shared_rule(o.shared);
  c.attr.attr = parse_attr(o.attr);
  c.attr.steps = o.steps;
  c.attr.rule = parse_ig_rule(o.ig_rule);
  c.attr.baseline = o.baseline;
  c.attr.max_batch = o.max_batch;
  c.heat.reduce = parse_reduce(o.reduce);
  c.heat.smooth = o.smooth;
  c.heat.smooth_min_px = o.smooth_min_px;
  c.heat.clip_percentile = o.clip_percentile;
  c.heat.colormap = parse_colormap(o.colormap);
  c.readout.fit_on = parse_enum(kFitOnNames, o.fit_on, "--fit-on");
  SV_CHECK(o.folds >= 2, ValueError, "--folds must be at least 2");
  c.readout.rule = parse_enum(kLambdaRuleNames, o.lambda_rule, "--lambda-rule");
  SV_CHECK(o.top_ooc >= 1 && o.top_k >= 1 && o.top_dims >= 0, ValueError,
           "--top-ooc and --top-k must be >= 1, --top-dims >= 0");
  SV_CHECK(o.steps >= 1, ValueError, "--steps must be >= 1");
  SV_CHECK(o.max_batch >= 1 && o.feature_batch >= 1, ValueError, "--max-batch and --feature-batch must be >= 1");
  SV_CHECK(o.threads >= 0, ValueError, "--threads must be >= 0 (0: all cores)");
  SV_CHECK(o.threads == 0 || o.device == "cpu", ValueError, "--threads needs --device cpu");
  SV_CHECK(o.smooth >= 0, ValueError, "--smooth must be >= 0");
  SV_CHECK(std::isfinite(o.smooth_min_px) && o.smooth_min_px >= 0, ValueError,
           "--smooth-min-px must be a finite number >= 0");
  SV_CHECK(o.decomposition_scale == "pair" || o.decomposition_scale == "panel", ValueError,
           "--decomposition-scale must be pair or panel, got " + o.decomposition_scale);
  c.decomposition_scale = parse_enum(kDecompositionScaleNames, o.decomposition_scale, "--decomposition-scale");
  SV_CHECK(o.clip_percentile > 0 && o.clip_percentile <= 100, ValueError, "--clip-percentile must be in (0, 100]");
  SV_CHECK(o.faith_steps >= 1, ValueError, "--faith-steps must be >= 1");
  c.evidence.faithfulness = o.faithfulness;
  c.evidence.faith_steps = o.faith_steps;
  c.evidence.faith_baseline = check_faith_baseline(o.faith_baseline);
  c.evidence.randomisation = o.randomisation;
  c.evidence.randomisation_seed = o.randomisation_seed;
  SV_CHECK(std::isnan(o.lambda) || (o.lambda >= 0 && std::isfinite(o.lambda)), ValueError, "--lambda must be >= 0");
  c.readout.fixed_lambda = std::isfinite(o.lambda);
  c.readout.lambdas = c.readout.fixed_lambda ? std::vector<double>{o.lambda} : log_grid(o.lambda_lo, o.lambda_hi, o.lambda_n);
  c.readout.lambda_lo = o.lambda_lo;
  c.readout.lambda_hi = o.lambda_hi;
  c.readout.lambda_n = o.lambda_n;
  c.readout.folds = o.folds;
  c.readout.seed = o.seed;
  c.pairs.top_ooc = o.top_ooc;
  c.pairs.top_k = o.top_k;
  c.pairs.top_dims = o.top_dims;
  c.input = input_config(o);
  c.out = o.out;
  c.progress = o.progress;
  return c;
}

nlohmann::json choices_json(const ExplainConfig& c, const std::string& model_path, const std::string& arch,
                            const std::string& layer, int64_t D, const std::string& backend) {
  const ReadoutConfig& r = c.readout;
  return {{"model", model_path},
          {"arch", arch},
          {"layer", layer},
          {"pool", pool_name(c.model.pool)},
          {"feature_dim", D},
          {"fit_on", enum_name(kFitOnNames, r.fit_on)},
          {"lambda", r.fixed_lambda ? nlohmann::json(r.lambdas[0]) : nlohmann::json("cv")},
          {"lambda_grid", {r.lambda_lo, r.lambda_hi, r.lambda_n}},
          {"folds", r.folds},
          {"cv_criterion", "mean out-of-fold Pearson r"},
          {"lambda_rule", enum_name(kLambdaRuleNames, r.rule)},
          {"seed", r.seed},
          {"top_ooc", c.pairs.top_ooc},
          {"top_k", c.pairs.top_k},
          {"similarity", similarity_name(c.pairs.similarity)},
          {"shared", shared_rule_name(c.pairs.shared)},
          {"top_dims", c.pairs.top_dims},
          {"attr", attr_name(c.attr.attr)},
          {"steps", c.attr.steps},
          {"ig_rule", ig_rule_name(c.attr.rule)},
          {"baseline", c.attr.baseline},
          {"reduce", reduce_name(c.heat.reduce)},
          {"smooth", c.heat.smooth},
          {"smooth_min_px", c.heat.smooth_min_px},
          {"decomposition_scale", enum_name(kDecompositionScaleNames, c.decomposition_scale)},
          {"clip_percentile", c.heat.clip_percentile},
          {"colormap", colormap_name(c.heat.colormap)},
          {"faithfulness", c.evidence.faithfulness},
          {"faith_steps", c.evidence.faith_steps},
          {"faith_baseline", c.evidence.faith_baseline},
          {"randomisation", c.evidence.randomisation},
          {"randomisation_seed", c.evidence.randomisation_seed},
          {"synthetic_source", synthetic_source_name(c.input.source)},
          {"noise", c.input.noise},
          {"repeats", c.input.repeats},
          {"max_batch", c.attr.max_batch},
          {"feature_batch", c.model.feature_batch},
          {"device", c.model.device},
          {"threads", c.model.threads},
          {"backend", backend}};
}

}  // namespace sv
