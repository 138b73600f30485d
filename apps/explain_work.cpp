// The shards, records and checks of a staged explain run (apps/explain_work.h); the stages
// themselves run in explain_work_stages.cpp.
#include "apps/explain_work.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace sv {

namespace {

int64_t parse_count(const std::string& text, const std::string& what) {
  SV_CHECK(!text.empty() && text.size() <= 12 && text.find_first_not_of("0123456789") == std::string::npos, ValueError,
           what + ": '" + text + "' is not a whole number >= 0");
  return std::stoll(text);
}

}  // namespace

Shard resolve_shard(const std::string& flag, const EnvFn& env) {
  Shard s;
  if (!flag.empty()) {
    const size_t slash = flag.find('/');
    SV_CHECK(slash != std::string::npos, ValueError, "--shard '" + flag + "': expected I/N (e.g. 3/8: shard 3 of 0..7)");
    s.index = parse_count(flag.substr(0, slash), "--shard '" + flag + "'");
    s.count = parse_count(flag.substr(slash + 1), "--shard '" + flag + "'");
    SV_CHECK(s.count >= 1 && s.index < s.count, ValueError,
             "--shard '" + flag + "': needs N >= 1 and 0 <= I < N");
    return s;
  }
  const char* id = env("SLURM_ARRAY_TASK_ID");
  if (id == nullptr || *id == '\0') return s;
  const int64_t task = parse_count(id, "SLURM_ARRAY_TASK_ID");
  const char* min = env("SLURM_ARRAY_TASK_MIN");
  const char* max = env("SLURM_ARRAY_TASK_MAX");
  const char* count = env("SLURM_ARRAY_TASK_COUNT");
  const int64_t lo = min && *min ? parse_count(min, "SLURM_ARRAY_TASK_MIN") : 0;
  if (count && *count) {
    s.count = parse_count(count, "SLURM_ARRAY_TASK_COUNT");
  } else {
    SV_CHECK(max && *max, ValueError,
             "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX: pass --shard I/N");
    s.count = parse_count(max, "SLURM_ARRAY_TASK_MAX") - lo + 1;
  }
  s.index = task - lo;
  SV_CHECK(s.count >= 1 && s.index >= 0 && s.index < s.count, ValueError,
           "SLURM_ARRAY_TASK_ID " + std::to_string(task) + " is not one of " + std::to_string(s.count) +
               " contiguous tasks from " + std::to_string(lo) +
               " (a stepped or resubmitted array?): pass --shard I/N explicitly");
  return s;
}

std::pair<int64_t, int64_t> shard_range(const Shard& s, int64_t n) {
  return {s.index * n / s.count, (s.index + 1) * n / s.count};
}

uint32_t file_crc32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SV_CHECK(f.good(), IoError, path + ": cannot open for reading: " + std::strerror(errno));
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize got = f.gcount();
    if (got > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(got));
  }
  SV_CHECK(f.eof(), IoError, path + ": read error");
  return static_cast<uint32_t>(crc);
}

nlohmann::json stage_options(const ExplainConfig& c, Stage stage, uint32_t model_crc) {
  const InputConfig& in = c.input;
  nlohmann::json j = {{"model", c.model.path},
                      {"model_crc32", model_crc},
                      {"layer", c.model.layer},
                      {"pool", pool_name(c.model.pool)},
                      {"device", c.model.device},
                      {"input",
                       {{"kind", enum_name(kInputKindNames, in.kind)},
                        {"responses", in.responses},
                        {"preferred", in.preferred},
                        {"images", in.images},
                        {"dataset", in.dataset},
                        {"data_dir", in.data_dir},
                        {"split", enum_name(kSplitNames, in.split)},
                        {"limit", in.limit},
                        {"synthetic", in.synthetic},
                        {"synthetic_source", synthetic_source_name(in.source)}}}};
  if (stage == Stage::Features) return j;
  const ReadoutConfig& r = c.readout;
  j["readout"] = {{"fit_on", enum_name(kFitOnNames, r.fit_on)},
                  {"lambdas", r.lambdas},
                  {"folds", r.folds},
                  {"lambda_rule", enum_name(kLambdaRuleNames, r.rule)},
                  {"seed", r.seed},
                  {"noise", in.noise},
                  {"repeats", in.repeats},
                  {"top_ooc", c.pairs.top_ooc}};  // selectivity counts the top ooc responses
  if (stage == Stage::Fit) return j;
  j["pairs"] = {{"top_ooc", c.pairs.top_ooc},
                {"top_k", c.pairs.top_k},
                {"top_dims", c.pairs.top_dims},
                {"similarity", similarity_name(c.pairs.similarity)},
                {"shared", shared_rule_name(c.pairs.shared)},
                {"attr", attr_name(c.attr.attr)},
                {"steps", c.attr.steps},
                {"ig_rule", ig_rule_name(c.attr.rule)},
                {"baseline", c.attr.baseline},
                {"reduce", reduce_name(c.heat.reduce)},
                {"faithfulness", c.evidence.faithfulness},
                {"faith_steps", c.evidence.faith_steps},
                {"faith_baseline", c.evidence.faith_baseline},
                {"randomisation", c.evidence.randomisation},
                {"randomisation_seed", c.evidence.randomisation_seed}};
  return j;
}

}  // namespace sv
