// `sharedvis explain` in one process: the stages of apps/explain_stages.h in order, each
// timed. The math lives in apps/method/, the files in apps/report/.
#include "apps/explain.h"

#include <chrono>
#include <cstdlib>

#include "apps/explain_report.h"
#include "apps/explain_stages.h"
#include "apps/explain_work.h"

namespace sv {

namespace {

using Clock = std::chrono::steady_clock;

// Runs a stage, records its wall time under `name`, returns its result.
template <class F>
auto timed(nlohmann::json& timing, const char* name, F&& stage) {
  const auto t = Clock::now();
  auto result = stage();
  timing[name] = std::chrono::duration<double>(Clock::now() - t).count();
  return result;
}

}  // namespace

const std::vector<std::string>& default_synthetic_labels() {
  static const std::vector<std::string> labels = {"Sandal", "Bag", "Ankle boot", "Sneaker", "Trouser", "Dress"};
  return labels;
}

ExplainSummary run_explain(const ExplainOptions& options) {
  const auto start = Clock::now();
  const ExplainConfig c = make_config(options);
  SV_CHECK(options.stage == "all" || options.stage == "features" || options.stage == "fit" ||
               options.stage == "pairs" || options.stage == "report",
           ValueError, "--stage must be all, features, fit, pairs or report, got " + options.stage);
  const Stage stage = parse_enum(kStageNames, options.stage, "--stage");
  SV_CHECK(options.shard.empty() || stage != Stage::All, ValueError,
           "--shard applies to --stage features, fit or pairs (the report and all run once)");
  if (stage != Stage::All || !options.work.empty()) {
    const bool sharded = stage == Stage::Features || stage == Stage::Fit || stage == Stage::Pairs;
    return run_work_stage(c, {options.work, stage, sharded ? resolve_shard(options.shard, std::getenv) : Shard{}});
  }
  StagedOutput out(c.out);  // fails now, not after the computation, when --out cannot be written
  nlohmann::json timing;

  LoadedModel model = timed(timing, "model", [&] { return load_model_stage(c.model); });
  ImageSet set = timed(timing, "inputs", [&] { return load_image_set(c.input, model.model); });
  const SourcePlan plan = source_plan(c.input, model.model, model.layer, set);
  const Features feats = timed(timing, "features", [&] { return features_stage(c, model, set.x, plan); });
  const Analysed data = make_neurons(c, std::move(set), feats.phi, feats.source, plan);
  const Readouts readouts = timed(timing, "readouts", [&] { return fit_stage(c, data); });
  const Pairs pairs = timed(timing, "pairs", [&] { return pairs_stage(c.pairs, readouts, data); });
  const Maps maps = timed(timing, "backprop", [&] { return backprop_stage(c, model, data, pairs); });
  const Evidence evidence = timed(timing, "evidence", [&] { return evidence_stage(c, model, readouts, pairs, maps); });

  ReportInputs in;
  in.config = &c;
  in.model = model_summary(model);
  in.data = &data;
  in.readouts = &readouts;
  in.pairs = &pairs;
  in.maps = maps_in_memory(maps, pairs);
  in.evidence = &evidence;
  in.backprop = backprop_description(pairs, c.attr.max_batch);
  in.timing = timing;
  in.started = start;
  const RunResult result = write_report(in, out);
  out.commit();
  return run_summary(out.final_dir(), result, std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace sv
