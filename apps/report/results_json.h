// results.json: every choice the run made and every number it found (docs/method.md §7).
// NaN (undefined: no repeats, no CV, constant data) is written as null.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "apps/report/run_result.h"

namespace sv {

nlohmann::json results_json(const RunResult& r);
// Pretty-printed, atomically.
void write_results_json(const std::string& path, const RunResult& r);

}  // namespace sv
