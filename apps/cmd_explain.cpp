// `sharedvis explain`: the flags of the method (docs/method.md) onto ExplainOptions.
#include <cmath>
#include <cstdio>
#include <memory>

#include "apps/commands.h"
#include "apps/cli_common.h"
#include "apps/explain.h"
#include "apps/text_fields.h"
#include "apps/method/heatmap.h"
#include "apps/method/references.h"
#include "apps/method/saliency.h"
#include "apps/method/shared.h"
#include "apps/method/synthetic.h"
#include "autodiff/error.h"

namespace sv {

namespace {

// A whole token as a number, or ValueError naming the flag ("3x", "nan" and "" are not).
double parse_number(const std::string& tok, const std::string& flag, const std::string& whole) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(tok, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SV_CHECK(!tok.empty() && used == tok.size() && std::isfinite(v), ValueError,
           flag + " '" + whole + "': '" + tok + "' is not a finite number");
  return v;
}

void parse_lambda_grid(const std::string& s, ExplainOptions& o) {
  const std::vector<std::string> v = split_nonempty(s);
  SV_CHECK(v.size() == 3, ValueError, "--lambda-grid expects lo,hi,n (e.g. 1e-2,1e6,17), got '" + s + "'");
  o.lambda_lo = parse_number(v[0], "--lambda-grid", s);
  o.lambda_hi = parse_number(v[1], "--lambda-grid", s);
  const double n = parse_number(v[2], "--lambda-grid", s);
  SV_CHECK(n == std::floor(n) && n >= 2 && n <= 1000, ValueError,
           "--lambda-grid '" + s + "': n must be an integer from 2 to 1000");
  o.lambda_n = static_cast<int>(n);
  SV_CHECK(o.lambda_lo > 0 && o.lambda_hi > o.lambda_lo, ValueError,
           "--lambda-grid '" + s + "': needs 0 < lo < hi (a log-spaced grid)");
}

// --synthetic LABEL[,LABEL...]: every label non-empty and named once.
std::vector<std::string> parse_labels(const std::string& s) {
  std::vector<std::string> labels;
  for (const std::string& label : split_fields(s)) {
    SV_CHECK(!label.empty(), ValueError, "--synthetic '" + s + "': an empty category name");
    for (const std::string& earlier : labels)
      SV_CHECK(earlier != label, ValueError, "--synthetic '" + s + "': '" + label + "' named twice");
    labels.push_back(label);
  }
  return labels;
}

// An integer flag that must not be negative (CLI11's NonNegativeNumber prints DBL_MAX).
CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
        return digits ? std::string() : "must be an integer >= 0, got '" + s + "'";
      },
      "INT>=0");
}

}  // namespace

void add_explain_command(CLI::App& app) {
  auto o = std::make_shared<ExplainOptions>();
  auto synthetic = std::make_shared<std::string>();
  auto grid = std::make_shared<std::string>();
  auto lambda = std::make_shared<double>(0.0);
  auto no_progress = std::make_shared<bool>(false);
  CLI::App* c = app.add_subcommand(
      "explain",
      "Shared-feature visualization: fit neuron readouts, pick ooc images and their references, backpropagate "
      "the shared features in parallel, write a gallery. With no input flags: synthetic neurons on the Fashion-MNIST "
      "test set with the bundled model.");
  // inputs
  c->add_option("--responses", o->responses, "Recorded responses CSV: image,category,NEURON[#k]...")->group("Input");
  c->add_option("--preferred", o->preferred, "The recorded neurons' preferred category (with --responses)")->group("Input");
  c->add_option("--images", o->images, "Folder with one subfolder of images per category")->group("Input");
  c->add_option("--dataset", o->dataset, "fashion-mnist")->group("Input");
  c->add_option("--data-dir", o->data_dir, "Folder of the dataset files (default: the Debian package's)")->group("Input");
  c->add_option("--split", o->split, "Dataset split: test or train")->check(CLI::IsMember({"test", "train"}))->capture_default_str()->group("Input");
  c->add_option("--limit", o->limit, "Dataset: use the first N images (0: all)")
      ->check(non_negative_integer())
      ->capture_default_str()
      ->group("Input");
  c->add_option("--synthetic", *synthetic, "Synthetic neurons for these categories: LABEL[,LABEL...]")->group("Input");
  c->add_option("--model", o->model, "Model file (.safetensors; default: the bundled Fashion-MNIST CNN)")->group("Input");
  c->add_option("--layer", o->layer, "Readout layer L (default: the model's, 'features' for fmnist_cnn)")->group("Input");
  c->add_option("--pool", o->pool, "Features of L")->check(one_of(kPoolNames, "pooling"))->capture_default_str()->group("Input");
  // readout
  c->add_option("--fit-on", o->fit_on, "Fit readouts on the preferred images or all")->check(CLI::IsMember({"preferred", "all"}))->capture_default_str()->group("Readout");
  c->add_option("--lambda", *lambda, "Fix the ridge λ (skips the search)")->group("Readout");
  c->add_option("--lambda-grid", *grid, "λ search grid lo,hi,n (log-spaced; default 1e-2,1e6,17)")->group("Readout");
  c->add_option("--folds", o->folds, "Cross-validation folds")->capture_default_str()->group("Readout");
  c->add_option("--lambda-rule", o->lambda_rule,
                "Pick λ from the CV curve: best (the best mean out-of-fold r) | 1se (the largest λ within one SE "
                "of the best)")
      ->check(CLI::IsMember({"best", "1se"}))
      ->capture_default_str()->group("Readout");
  c->add_option("--seed", o->seed, "Seed of the folds, halves and noise")
      ->check(non_negative_integer())
      ->capture_default_str()
      ->group("Readout");
  // pairs
  c->add_option("--top-ooc", o->top_ooc, "ooc images per neuron (top by recorded response)")->capture_default_str()->group("Pairs");
  c->add_option("--top-k", o->top_k, "Reference candidates reported")->capture_default_str()->group("Pairs");
  c->add_option("--similarity", o->similarity, "Reference choice by contribution similarity")->check(one_of(kSimilarityNames, "similarity"))->capture_default_str()->group("Pairs");
  c->add_option("--shared", o->shared, "α rule")->check(one_of(kSharedRuleNames, "--shared rule"))->capture_default_str()->group("Pairs");
  c->add_option("--top-dims", o->top_dims, "Shared dimensions reported and decomposed")->capture_default_str()->group("Pairs");
  // attribution
  c->add_option("--attr", o->attr, "Gradients or Integrated Gradients")->check(one_of(kAttrNames, "--attr"))->capture_default_str()->group("Attribution");
  c->add_option("--steps", o->steps, "IG quadrature nodes")->capture_default_str()->group("Attribution");
  c->add_option("--ig-rule", o->ig_rule, "IG quadrature rule")->check(one_of(kIgRuleNames, "IG rule"))->capture_default_str()->group("Attribution");
  c->add_option("--baseline", o->baseline, "IG baseline: zero | black | blur | mean | FILE.npy")->capture_default_str()->group("Attribution");
  c->add_option("--max-batch", o->max_batch, "Images (× cotangents) per pass")->capture_default_str()->group("Attribution");
  c->add_option("--feature-batch", o->feature_batch, "Images per forward-only pass (features, responses)")
      ->capture_default_str()->group("Attribution");
  c->add_option("--device", o->device, "Where to compute")->check(CLI::IsMember({"cpu", "cuda", "auto"}))->capture_default_str()->group("Attribution");
  c->add_option("--threads", o->threads, "CPU threads with --device cpu (0: all cores); results are the same for any count")
      ->capture_default_str()->group("Attribution");
  // heatmaps
  c->add_option("--reduce", o->reduce, "Channel reduction")->check(one_of(kReduceNames, "--reduce"))->capture_default_str()->group("Heatmaps");
  c->add_option("--smooth", o->smooth, "Gaussian σ as a fraction of the width (0: off)")->capture_default_str()->group("Heatmaps");
  c->add_option("--smooth-min-px", o->smooth_min_px,
                "Smoothing σ is at least this many input pixels (with --smooth > 0)")
      ->capture_default_str()->group("Heatmaps");
  c->add_option("--decomposition-scale", o->decomposition_scale,
                "Scale of the per-dimension panels: pair (the pair's shared map's, comparable) | panel (each its own)")
      ->check(CLI::IsMember({"pair", "panel"}))
      ->capture_default_str()->group("Heatmaps");
  c->add_option("--clip-percentile", o->clip_percentile, "Common scale of a pair: this percentile")->capture_default_str()->group("Heatmaps");
  c->add_option("--colormap", o->colormap, "Heatmap colours")->check(one_of(kColormapNames, "--colormap"))->capture_default_str()->group("Heatmaps");
  // evidence (docs/method.md §8)
  auto no_faith = std::make_shared<bool>(false);
  c->add_flag("--no-faithfulness", *no_faith,
              "Skip the faithfulness metrics. By default every pair image gets deletion and insertion curves of the "
              "predicted response for 4 maps (shared, gradient, IG, random): 8 x (steps + 1) forward images per "
              "pair image, plus one gradient and one IG (--steps nodes) of the response; 4-10 s of the default run's "
              "24-37 s on 2 busy cores (bench/README.md)")
      ->group("Evidence");
  c->add_option("--faith-steps", o->faith_steps, "Steps of the deletion and insertion curves")
      ->capture_default_str()->group("Evidence");
  c->add_option("--faith-baseline", o->faith_baseline,
                "What deleted pixels become: blur (Gaussian, σ = 10% of the width) | zero | mean")
      ->capture_default_str()->group("Evidence");
  c->add_flag("--randomisation", o->randomisation,
              "Model-randomisation check: re-draw the weight layers top-down, one more each time, recompute the "
              "shared maps, and report Spearman's ρ and SSIM with the originals (one backprop per stage)")
      ->group("Evidence");
  c->add_option("--randomisation-seed", o->randomisation_seed, "Seed of the re-drawn weights (init_portable)")
      ->check(non_negative_integer())
      ->capture_default_str()->group("Evidence");
  // synthetic
  c->add_option("--synthetic-source", o->synthetic_source,
                "auto (logit when the model's classes name the categories, else fitted) | logit | fitted")
      ->check(one_of(kSyntheticSourceNames, "--synthetic-source"))
      ->capture_default_str()->group("Synthetic neurons");
  c->add_option("--noise", o->noise, "Noise sd as a fraction of the response's sd")->capture_default_str()->group("Synthetic neurons");
  c->add_option("--repeats", o->repeats, "Noisy repeats per synthetic neuron")->capture_default_str()->group("Synthetic neurons");
  // output
  c->add_option("--out", o->out, "Output folder (written atomically)")->capture_default_str()->group("Output");
  c->add_flag("--no-progress", *no_progress, "No progress lines")->group("Output");
  // staged runs (docs/slurm.md)
  c->add_option("--work", o->work,
                "Work folder of a staged run: each --stage writes its shards there, the report merges them")
      ->group("Staged runs");
  c->add_option("--stage", o->stage,
                "all (everything in one process; with --work: every stage in turn, resuming) | features | fit | "
                "pairs | report")
      ->check(CLI::IsMember({"all", "features", "fit", "pairs", "report"}))
      ->capture_default_str()
      ->group("Staged runs");
  c->add_option("--shard", o->shard,
                "This task's shard I/N of the stage (default: from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT "
                "or _MIN/_MAX when set, else 0/1); give it when resubmitting one array task")
      ->group("Staged runs");

  c->callback([o, synthetic, grid, lambda, no_progress, no_faith, c] {
    ExplainOptions opt = *o;
    if (c->count("--synthetic") > 0) opt.synthetic = parse_labels(*synthetic);
    if (c->count("--lambda-grid") > 0) parse_lambda_grid(*grid, opt);
    if (c->count("--lambda") > 0) {
      SV_CHECK(std::isfinite(*lambda) && *lambda >= 0, ValueError, "--lambda must be a finite number >= 0");
      opt.lambda = *lambda;
    }
    opt.progress = !*no_progress;
    opt.faithfulness = !*no_faith;
    const ExplainSummary s = run_explain(opt);
    if (!s.message.empty()) {
      std::printf("%s\n", s.message.c_str());
      return;
    }
    std::printf("explained %d pair%s of %d neuron%s", s.pairs, s.pairs == 1 ? "" : "s", s.neurons - s.skipped,
                s.neurons - s.skipped == 1 ? "" : "s");
    if (s.skipped) std::printf(" (%d skipped)", s.skipped);
    std::printf(" in %.1f s\ngallery: %s/index.html\n", s.seconds, s.out_dir.c_str());
  });
}

}  // namespace sv
