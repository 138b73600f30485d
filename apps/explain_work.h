// `sharedvis explain --work DIR --stage features|fit|pairs|report [--shard I/N]`: the
// pipeline of apps/explain_stages.h in resumable, sharded steps over a work folder, for
// Slurm job arrays (docs/slurm.md). The merged report equals a one-process run's.
//
//   DIR/features/I-of-N.json  .phi.npy  .source.npy   φ (and the synthetic source) of
//                                                     the images [I·n/N, (I+1)·n/N)
//   DIR/fit/I-of-N.json                               readouts of neurons [I·m/N, (I+1)·m/N)
//   DIR/pairs/I-of-N.json  .maps.npy                  pairs, maps and evidence of the fitted
//                                                     neurons [I·f/N, (I+1)·f/N)
//   report: --out, merged from every shard of the three stages.
//
// No task decodes every image: a features task decodes its slice, the fit task none, a
// pairs task its pairs' images and the report each pair's images as it draws it, reading
// one pair's maps at a time from the pairs shards (docs/slurm.md, "What each task decodes").
//
// Every file is written atomically (weights/atomic_file.h); a shard's record (I-of-N.json)
// is written last and holds the options that change the stage's results and the size and
// CRC-32 of each of its files. A shard is complete when its record verifies: a rerun skips
// it and redoes a missing, partial or corrupt one. A stage that reads another's shards, and
// the report, refuse to go on when one is missing, corrupt or was made with other options,
// and name it.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/explain_config.h"

namespace sv {

enum class Stage { All, Features, Fit, Pairs, Report };
inline constexpr std::array<EnumName<Stage>, 5> kStageNames{{{"all", Stage::All},
                                                             {"features", Stage::Features},
                                                             {"fit", Stage::Fit},
                                                             {"pairs", Stage::Pairs},
                                                             {"report", Stage::Report}}};

struct Shard {
  int64_t index = 0, count = 1;
};

// The task's shard: --shard I/N when given (it wins: a resubmitted array task sees
// SLURM_ARRAY_TASK_COUNT=1), else from SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT or
// SLURM_ARRAY_TASK_MIN/MAX (index = ID − MIN), else 0/1. env: getenv or a stand-in.
// ValueError naming the flag or variable for a malformed or out-of-range value.
using EnvFn = std::function<const char*(const char*)>;
Shard resolve_shard(const std::string& flag, const EnvFn& env);

// [first, last) of n items for shard s: balanced, contiguous, in order.
std::pair<int64_t, int64_t> shard_range(const Shard& s, int64_t n);

// CRC-32 (zlib) of a file's bytes; IoError naming the file.
uint32_t file_crc32(const std::string& path);

// The options that change a stage's results (each stage's include the earlier stages'):
// the model file (path and CRC-32), layer, pool, device and inputs for features; the
// readout and synthetic-neuron options for fit; pairs, attribution, evidence for pairs.
// Not --threads, --max-batch or --feature-batch (results do not depend on them).
nlohmann::json stage_options(const ExplainConfig& c, Stage stage, uint32_t model_crc);

// Runs one stage for one shard over the work folder w.dir; Stage::Report writes c.out and
// Stage::All runs every stage in turn (one shard each, skipping complete ones). The
// summary's message says what was done or skipped.
struct WorkOptions {
  std::string dir;
  Stage stage = Stage::All;
  Shard shard;
};
ExplainSummary run_work_stage(const ExplainConfig& c, const WorkOptions& w);

}  // namespace sv
