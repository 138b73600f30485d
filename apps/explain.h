// `sharedvis explain`: the whole method, top-down (docs/method.md §1–7):
//   load model → load images and neurons → features φ at layer L → readouts and their
//   statistics → ooc images and references → α → parallel backprop → heatmaps → report.
//
// Inputs, one of:
//   responses  --responses FILE.csv --preferred LABEL   recorded neurons (apps/io/csv.h)
//   images     --images DIR --synthetic LABEL[,...]     one subfolder per category
//   dataset    --dataset fashion-mnist --synthetic ...  (the default, with the bundled model)
// Every option below is a flag of the command (apps/cmd_explain.cpp) and is recorded in
// results.json.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sv {

struct ExplainOptions {
  // ---- inputs
  std::string responses, preferred;     // recordings
  std::string images;                   // a folder with one subfolder per category
  std::string dataset;                  // "fashion-mnist" ("" and no other input: the default)
  std::string data_dir;                 // "" : the dataset's default folder
  std::string split = "test";           // test | train (dataset)
  int64_t limit = 0;                    // dataset: the first `limit` images (0: all)
  std::vector<std::string> synthetic;   // categories of synthetic neurons
  std::string model;                    // "" : the bundled model
  std::string layer;                    // "" : the model's default readout layer
  std::string pool = "avg";
  // ---- readout (§1)
  std::string fit_on = "preferred";     // preferred | all
  double lambda = std::numeric_limits<double>::quiet_NaN();  // fixed λ (no search) when set
  double lambda_lo = 1e-2, lambda_hi = 1e6;
  int lambda_n = 17;
  int folds = 5;
  std::string lambda_rule = "best";     // best | 1se (see RidgeOptions::one_se)
  uint64_t seed = 0;
  // ---- ooc images and references (§2, §3)
  int top_ooc = 3, top_k = 5, top_dims = 3;
  std::string similarity = "cosine";
  std::string shared = "relu-product";
  // ---- attribution (§4)
  std::string attr = "grad";
  int steps = 32;
  std::string ig_rule = "gausslegendre";
  std::string baseline = "zero";
  int64_t max_batch = 64;               // images (× cotangents) per backward pass
  int64_t feature_batch = 256;          // images per forward-only pass (features, responses)
  std::string device = "auto";
  int threads = 0;                      // CPU threads with device "cpu" (0: all cores); results do not depend on it
  // ---- heatmaps (§5)
  std::string reduce = "abs-sum";
  double smooth = 0.02;                 // σ as a fraction of the width ...
  double smooth_min_px = 1.0;           // ... and at least this many input pixels (HeatmapOptions)
  std::string decomposition_scale = "pair";  // pair (the pair's shared-map scale) | panel (its own)
  double clip_percentile = 99.5;
  std::string colormap = "inferno";
  // ---- evidence that the maps are faithful (§8)
  bool faithfulness = true;             // deletion/insertion curves of four maps per pair image
  int faith_steps = 20;
  std::string faith_baseline = "blur";  // blur | zero | mean
  bool randomisation = false;           // the model-randomisation check (Adebayo et al., 2018)
  uint64_t randomisation_seed = 1;      // init_portable's seed for the re-drawn weights
  // ---- synthetic neurons (§6)
  std::string synthetic_source = "auto";  // auto (logit when the model's classes cover the labels) | logit | fitted
  double noise = 0.1;
  int repeats = 2;
  // ---- output (§7)
  std::string out = "out/explain";
  bool progress = true;  // progress lines on a terminal
  // ---- staged runs over a work folder (apps/explain_work.h, docs/slurm.md)
  std::string work;           // the work folder ("" with stage "all": one process, no folder)
  std::string stage = "all";  // all | features | fit | pairs | report
  std::string shard;          // "I/N"; "": from SLURM_ARRAY_TASK_* when set, else 0/1
};

// Synthetic neurons of the embedded default run.
const std::vector<std::string>& default_synthetic_labels();

struct ExplainSummary {
  std::string out_dir;
  int neurons = 0, skipped = 0, pairs = 0;
  double seconds = 0;
  std::string message;  // a staged run's stage other than report: what it did or skipped
};

// Runs everything and writes the output folder atomically (or, with options.work or a
// stage other than all, one stage of a staged run: apps/explain_work.h). Bad input throws sv::Error
// (IoError / ValueError) naming the file, line, column, category or layer.
ExplainSummary run_explain(const ExplainOptions& opt);

}  // namespace sv
