// The report stage of `sharedvis explain` (docs/method.md §5 and §7): the stages' typed
// outputs (apps/explain_stages.h) assembled into one RunResult and written into an output
// folder: the images, overlays, pair figures, decomposition panels and raw saliency
// files, readout.safetensors, results.json and index.html.
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/explain_stages.h"
#include "apps/report/output_dir.h"

namespace sv {

// What the report needs of the model besides the stages' outputs.
struct ModelSummary {
  std::string path, arch, layer, backend;
  ModelInfo info;  // for the display images
};
ModelSummary model_summary(const LoadedModel& m);

// Where the report reads the maps and images of each pair, one pair at a time: it holds
// one pair's maps and one neuron's display images, never the run's (a staged report reads
// them from the pairs shards and decodes the images then; docs/slurm.md).
struct PairMaps {
  std::function<Tensor(size_t job)> saliency;  // the map (C, H, W) of a job of the pairs
  std::vector<double> ig_gap;                  // per job
  std::function<Tensor(int64_t image)> image;  // an analysed image's model input (C, H, W)
};
// The maps and images a one-process run holds (maps and pairs must outlive the result).
PairMaps maps_in_memory(const Maps& maps, const Pairs& pairs);

// Everything a report is made of. The pointers, and what maps refers to, must outlive
// write_report.
struct ReportInputs {
  const ExplainConfig* config = nullptr;
  ModelSummary model;
  const Analysed* data = nullptr;
  const Readouts* readouts = nullptr;
  const Pairs* pairs = nullptr;
  PairMaps maps;                     // per job of pairs
  const Evidence* evidence = nullptr;
  nlohmann::json backprop;           // inputs.backprop of results.json
  nlohmann::json timing;             // seconds per stage (results.json's timing_seconds)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();  // for timing "total"
};

// Writes every file of the report into out (not committed) and returns the RunResult
// written to results.json (timing "heatmaps" and "total" added).
RunResult write_report(const ReportInputs& in, const StagedOutput& out);

// The counts a command prints for a written report.
ExplainSummary run_summary(const std::string& out_dir, const RunResult& r, double seconds);

}  // namespace sv
