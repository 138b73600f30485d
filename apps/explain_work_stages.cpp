// The stages of a staged explain run over a work folder (apps/explain_work.h): each loads
// what the earlier stages wrote (after checking every shard's record), runs the typed
// stage of apps/explain_stages.h on its slice, and writes its files and then its record.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstring>

#include "apps/explain_records.h"
#include "apps/explain_report.h"
#include "apps/explain_work.h"
#include "weights/atomic_file.h"
#include "apps/io/npy.h"

namespace sv {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string shard_name(const Shard& s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%05lld-of-%05lld", static_cast<long long>(s.index), static_cast<long long>(s.count));
  return buf;
}

std::string stage_name(Stage s) { return enum_name(kStageNames, s); }

fs::path stage_dir(const std::string& dir, Stage s) { return fs::path(dir) / stage_name(s); }

void write_json_atomic(const std::string& path, const json& j) {
  const std::string text = j.dump(1) + "\n";
  write_file_atomic(path, {{text.data(), text.size()}});
}

json read_json(const std::string& path) {
  std::ifstream f(path);
  SV_CHECK(f.good(), IoError, path + ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    throw IoError(path + ": not a valid record (" + e.what() + ")");
  }
}

// The record of a shard: written after its files, naming each with its size and CRC-32.
void write_record(const fs::path& record, Stage stage, const Shard& s, const json& options,
                  const std::vector<std::string>& files, json extra) {
  json list = json::object();
  for (const std::string& f : files) {
    const fs::path p = record.parent_path() / f;
    list[f] = {{"bytes", fs::file_size(p)}, {"crc32", file_crc32(p.string())}};
  }
  extra["stage"] = stage_name(stage);
  extra["shard"] = {s.index, s.count};
  extra["options"] = options;
  extra["files"] = list;
  write_json_atomic(record.string(), extra);
}

// "" when the shard's record and files are complete and were made with `options`; else why not.
std::string shard_problem(const fs::path& record, const json& options) {
  if (!fs::exists(record)) return "missing";
  json j;
  try {
    j = read_json(record.string());
  } catch (const Error& e) {
    return std::string("unreadable record: ") + e.what();
  }
  if (!j.contains("options") || !j.contains("files")) return "incomplete record";
  if (j["options"] != options) {
    std::string why;
    for (const json& d : json::diff(options, j["options"])) why += (why.empty() ? "" : ", ") + d.value("path", std::string());
    return "made with other options (differing: " + why + ")";
  }
  for (const auto& [name, f] : j["files"].items()) {
    const fs::path p = record.parent_path() / name;
    if (!fs::exists(p)) return "its file " + name + " is missing";
    if (fs::file_size(p) != f.value("bytes", uint64_t{0}))
      return "its file " + name + " has " + std::to_string(fs::file_size(p)) + " bytes, the record says " +
             std::to_string(f.value("bytes", uint64_t{0})) + " (partial or corrupt)";
    if (file_crc32(p.string()) != f.value("crc32", uint32_t{0})) return "its file " + name + " fails its CRC-32 (corrupt)";
  }
  return "";
}

// Every shard's record of a stage, in shard order, all verified against `options`;
// ValueError naming each missing, corrupt or foreign shard otherwise.
std::vector<json> stage_records(const std::string& dir, Stage stage, const json& options) {
  const fs::path sd = stage_dir(dir, stage);
  std::vector<int64_t> counts;
  if (fs::is_directory(sd))
    for (const auto& e : fs::directory_iterator(sd)) {
      long long i = 0, n = 0;
      char tail[8] = {0};
      const std::string name = e.path().filename().string();
      if (std::sscanf(name.c_str(), "%lld-of-%lld.%5s", &i, &n, tail) == 3 && std::string(tail) == "json" &&
          name.size() == 5 + 4 + 5 + 5)
        counts.push_back(n);
    }
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  SV_CHECK(!counts.empty(), ValueError,
           sd.string() + ": no " + stage_name(stage) + " shard: run --stage " + stage_name(stage) + " first");
  SV_CHECK(counts.size() == 1, ValueError,
           sd.string() + ": shards of " + std::to_string(counts.size()) + " different counts (" +
               std::to_string(counts.front()) + " and " + std::to_string(counts.back()) +
               "): remove the folder and rerun the stage with one --shard count");
  std::vector<json> records;
  std::string problems;
  for (int64_t i = 0; i < counts[0]; ++i) {
    const Shard s{i, counts[0]};
    const fs::path rec = sd / (shard_name(s) + ".json");
    const std::string why = shard_problem(rec, options);
    if (why.empty())
      records.push_back(read_json(rec.string()));
    else
      problems += "\n  " + rec.string() + ": " + why;
  }
  SV_CHECK(problems.empty(), ValueError,
           "cannot merge the " + stage_name(stage) + " shards of " + dir + ", rerun these (--stage " + stage_name(stage) +
               " --shard I/" + std::to_string(counts[0]) + "):" + problems);
  return records;
}

// What every stage starts from: the model, the images, the source plan.
struct Base {
  LoadedModel model;
  ImageSet set;
  SourcePlan plan;
  uint32_t model_crc = 0;
};

// rows: the images to decode now. None by default: the fit task needs no pixels, a pairs
// task and the report decode their pairs' images when they need them (b.set.pixels); a
// features task decodes its slice.
Base load_base(const ExplainConfig& c, const ImageRows& rows = [](int64_t) { return std::pair<int64_t, int64_t>{0, 0}; }) {
  Base b;
  b.model = load_model_stage(c.model);
  b.model_crc = file_crc32(b.model.path);
  b.set = load_image_set(c.input, b.model.model, rows);
  b.plan = source_plan(c.input, b.model.model, b.model.layer, b.set);
  return b;
}

Tensor concat_rows(const std::vector<Tensor>& parts) {
  int64_t n = 0;
  for (const Tensor& t : parts) n += t.dim(0);
  Shape s = parts.at(0).shape();
  s[0] = n;
  Tensor out = Tensor::empty(s, parts[0].dtype());
  size_t off = 0;
  for (const Tensor& t : parts) {
    std::memcpy(static_cast<char*>(out.raw()) + off, t.raw(), t.nbytes());
    off += t.nbytes();
  }
  return out;
}

// φ and the source of every image, from the features shards.
Features load_features(const ExplainConfig& c, const std::string& dir, const Base& b) {
  const json opts = stage_options(c, Stage::Features, b.model_crc);
  std::vector<Tensor> phi, source;
  const fs::path sd = stage_dir(dir, Stage::Features);
  for (const json& r : stage_records(dir, Stage::Features, opts)) {
    const Shard s{r["shard"][0], r["shard"][1]};
    const auto [first, last] = shard_range(s, static_cast<int64_t>(b.set.images.size()));
    phi.push_back(map_npy((sd / (shard_name(s) + ".phi.npy")).string()));
    SV_CHECK(phi.back().dim(0) == last - first, ValueError,
             (sd / shard_name(s)).string() + ": " + std::to_string(phi.back().dim(0)) + " rows of features for images " +
                 std::to_string(first) + ".." + std::to_string(last));
    if (b.plan.needed) source.push_back(map_npy((sd / (shard_name(s) + ".source.npy")).string()));
  }
  Features f;
  f.phi = concat_rows(phi);
  if (b.plan.needed) f.source = concat_rows(source);
  return f;
}

Readouts load_readouts(const ExplainConfig& c, const std::string& dir, const Base& b, const Analysed& data) {
  Readouts r;
  r.neurons.resize(data.neurons.size());
  const fs::path sd = stage_dir(dir, Stage::Fit);
  for (const json& rec : stage_records(dir, Stage::Fit, stage_options(c, Stage::Fit, b.model_crc))) {
    const Shard s{rec["shard"][0], rec["shard"][1]};
    add_readouts(read_json((sd / (shard_name(s) + ".readouts.json")).string()), c, data, r);
  }
  require_fitted(r);
  return r;
}

// A stage's task: where its shard goes, the options its record holds,
// and whether the shard is complete already.
struct Task {
  Stage stage;
  Shard shard;
  fs::path dir;      // the stage's folder
  std::string name;  // the shard's file stem
  json options;
  bool complete = false;

  std::string path(const std::string& file) const { return (dir / file).string(); }
  // The record, written last: the shard is complete once it is there.
  void finish(const std::vector<std::string>& files, const json& extra) const {
    write_record(dir / (name + ".json"), stage, shard, options, files, extra);
  }
  // The line the task prints: "fit shard 1/4: neurons 5..10 written".
  std::string done(const std::string& what) const {
    return stage_name(stage) + " shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) + ": " + what;
  }
};

Task task_of(const ExplainConfig& c, const WorkOptions& w, Stage stage, const Base& b) {
  Task t{stage, w.shard, stage_dir(w.dir, stage), shard_name(w.shard), stage_options(c, stage, b.model_crc)};
  fs::create_directories(t.dir);
  t.complete = shard_problem(t.dir / (t.name + ".json"), t.options).empty();
  return t;
}

std::string features_task(const ExplainConfig& c, const WorkOptions& w) {
  // Only this shard's images are decoded.
  Base b = load_base(c, [&](int64_t n) {
    SV_CHECK(w.shard.count <= n, ValueError,
             "--shard " + std::to_string(w.shard.index) + "/" + std::to_string(w.shard.count) + ": more shards than the " +
                 std::to_string(n) + " images");
    return shard_range(w.shard, n);
  });
  const Task t = task_of(c, w, Stage::Features, b);
  if (t.complete) return t.done("complete, skipped");
  const int64_t first = b.set.x_first, last = first + b.set.x.dim(0);
  const Features f = features_stage(c, b.model, b.set.x, b.plan, first);
  std::vector<std::string> files = {t.name + ".phi.npy"};
  write_npy(t.path(files[0]), f.phi);
  if (b.plan.needed) {
    files.push_back(t.name + ".source.npy");
    write_npy(t.path(files[1]), f.source);
  }
  t.finish(files, {{"images", {first, last}}});
  return t.done("images " + std::to_string(first) + ".." + std::to_string(last) + " written");
}

// The analysed images and neurons from the features shards.
Analysed merged_inputs(const ExplainConfig& c, const std::string& dir, Base& b) {
  const Features f = load_features(c, dir, b);
  return make_neurons(c, std::move(b.set), f.phi, f.source, b.plan);
}

std::string fit_task(const ExplainConfig& c, const WorkOptions& w) {
  Base b = load_base(c);
  const Task t = task_of(c, w, Stage::Fit, b);
  if (t.complete) return t.done("complete, skipped");
  const Analysed data = merged_inputs(c, w.dir, b);
  const auto M = static_cast<int64_t>(data.neurons.size());
  const auto [first, last] = shard_range(w.shard, M);
  const Readouts r = fit_stage(c, data, static_cast<size_t>(first), static_cast<size_t>(last));
  const std::string file = t.name + ".readouts.json";
  write_json_atomic(t.path(file), readouts_json(r, static_cast<size_t>(first), static_cast<size_t>(last)));
  t.finish({file}, {{"neurons", {first, last}}});
  return t.done("neurons " + std::to_string(first) + ".." + std::to_string(last) + " written");
}

// The maps of every job, stacked (jobs, C, H, W).
Tensor stack_maps(const std::vector<Tensor>& maps) {
  std::vector<Tensor> rows;
  for (const Tensor& m : maps) rows.push_back(m.reshape({1, m.dim(0), m.dim(1), m.dim(2)}));
  return concat_rows(rows);
}

std::string pairs_task(const ExplainConfig& c, const WorkOptions& w) {
  Base b = load_base(c);
  const Task t = task_of(c, w, Stage::Pairs, b);
  if (t.complete) return t.done("complete, skipped");
  const Analysed data = merged_inputs(c, w.dir, b);
  const Readouts readouts = load_readouts(c, w.dir, b, data);
  const auto [first, last] = shard_range(w.shard, static_cast<int64_t>(readouts.fitted.size()));
  std::vector<size_t> fitted;
  for (int64_t k = first; k < last; ++k) fitted.push_back(static_cast<size_t>(k));
  json extra = {{"fitted", {first, last}}};
  std::vector<std::string> files;
  if (!fitted.empty()) {
    const Pairs pairs = pairs_stage(c.pairs, readouts, data, fitted);
    const Maps maps = backprop_stage(c, b.model, data, pairs);  // decodes the pairs' images only
    const Evidence ev = evidence_stage(c, b.model, readouts, pairs, maps);
    json rows = json::array();
    for (const PairPlan& p : pairs.plans) {
      json r = {p.cot};
      for (int64_t d : p.dim_cots) r.push_back(d);
      rows.push_back(r);
    }
    json j = evidence_json(pairs, ev, fitted);
    j["cotangent_rows"] = rows;
    j["ig_gap"] = exact(maps.bp.ig_gap);
    files.push_back(t.name + ".pairs.json");
    write_json_atomic(t.path(files.back()), j);
    if (!maps.bp.saliency.empty()) {
      files.push_back(t.name + ".maps.npy");
      write_npy(t.path(files.back()), stack_maps(maps.bp.saliency));
    }
    extra["plans"] = pairs.plans.size();
  }
  t.finish(files, extra);
  return t.done("fitted neurons " + std::to_string(first) + ".." + std::to_string(last) + " written");
}

// A job's map in the pairs shards: the shard's maps file and its row there.
struct MapRow {
  size_t file = 0;  // index into the maps files
  int64_t row = -1;
};

// The report: the readouts and the pair choices again from the merged shards, the evidence
// from the pairs shards, then write_report as in one process, which reads each pair's maps
// from its shard's file (one row at a time) and decodes its images when it draws the pair.
ExplainSummary report_task(const ExplainConfig& c, const WorkOptions& w) {
  const auto start = std::chrono::steady_clock::now();
  StagedOutput out(c.out);
  Base b = load_base(c);
  const Analysed data = merged_inputs(c, w.dir, b);
  const Readouts readouts = load_readouts(c, w.dir, b, data);
  const Pairs pairs = pairs_stage(c.pairs, readouts, data);
  std::vector<std::string> maps_files;
  std::vector<MapRow> where(pairs.jobs.size());
  PairMaps maps;
  maps.ig_gap.assign(pairs.jobs.size(), kNoValue);
  Evidence ev;
  ev.pairs.resize(pairs.plans.size());
  ev.min_drop.assign(readouts.fitted.size(), kNoValue);
  const fs::path sd = stage_dir(w.dir, Stage::Pairs);
  size_t plan = 0;  // the first global plan of the shard
  for (const json& rec : stage_records(w.dir, Stage::Pairs, stage_options(c, Stage::Pairs, b.model_crc))) {
    const Shard s{rec["shard"][0], rec["shard"][1]};
    if (!rec.contains("plans")) continue;  // a shard without fitted neurons
    const json j = read_json((sd / (shard_name(s) + ".pairs.json")).string());
    const json& rows = j.at("cotangent_rows");
    SV_CHECK(plan + rows.size() <= pairs.plans.size(), ValueError,
             (sd / shard_name(s)).string() + ": more pairs than the merged readouts choose");
    const std::vector<double> gaps = exact_doubles(j.at("ig_gap"));
    maps_files.push_back((sd / (shard_name(s) + ".maps.npy")).string());
    for (size_t q = 0; q < rows.size(); ++q) {
      const PairPlan& g = pairs.plans[plan + q];
      std::vector<int64_t> global = {g.cot};
      global.insert(global.end(), g.dim_cots.begin(), g.dim_cots.end());
      SV_CHECK(rows[q].size() == global.size(), ValueError, (sd / shard_name(s)).string() + ": a pair's maps do not match");
      for (size_t k = 0; k < global.size(); ++k)
        for (int side = 0; side < 2; ++side) {
          const auto gj = static_cast<size_t>(2 * global[k] + side);
          const auto lj = static_cast<int64_t>(2 * rows[q][k].get<int64_t>() + side);
          where.at(gj) = {maps_files.size() - 1, lj};
          maps.ig_gap[gj] = gaps.at(static_cast<size_t>(lj));
        }
    }
    add_evidence(j, plan, ev);
    plan += rows.size();
  }
  SV_CHECK(plan == pairs.plans.size(), ValueError,
           "the pairs shards hold " + std::to_string(plan) + " pairs, the merged readouts choose " +
               std::to_string(pairs.plans.size()));
  maps.saliency = [&](size_t job) {
    const MapRow& m = where.at(job);
    SV_CHECK(m.row >= 0, ValueError, "the pairs shards hold no map for backprop job " + std::to_string(job));
    const Tensor t = read_npy_rows(maps_files[m.file], m.row, m.row + 1);
    return t.reshape({t.dim(1), t.dim(2), t.dim(3)});
  };
  maps.image = [&](int64_t img) {
    const Tensor x = data.pixels({img});
    return x.reshape({x.dim(1), x.dim(2), x.dim(3)});
  };
  ReportInputs in;
  in.config = &c;
  in.model = model_summary(b.model);
  in.data = &data;
  in.readouts = &readouts;
  in.pairs = &pairs;
  in.maps = std::move(maps);
  in.evidence = &ev;
  in.backprop = backprop_description(pairs, c.attr.max_batch);
  in.started = start;
  const RunResult result = write_report(in, out);
  out.commit();
  ExplainSummary s = run_summary(out.final_dir(), result, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return s;
}

}  // namespace

ExplainSummary run_work_stage(const ExplainConfig& c, const WorkOptions& w) {
  SV_CHECK(!w.dir.empty(), ValueError, "--stage " + stage_name(w.stage) + " needs --work DIR");
  ExplainSummary s;
  switch (w.stage) {
    case Stage::Features: s.message = features_task(c, w); break;
    case Stage::Fit: s.message = fit_task(c, w); break;
    case Stage::Pairs: s.message = pairs_task(c, w); break;
    case Stage::Report: return report_task(c, w);
    case Stage::All: {  // every stage in turn, one shard each, resuming what is complete
      const WorkOptions one{w.dir, Stage::All, Shard{}};
      for (Stage st : {Stage::Features, Stage::Fit, Stage::Pairs}) {
        WorkOptions o = one;
        o.stage = st;
        std::fprintf(stderr, "sharedvis explain: %s\n", run_work_stage(c, o).message.c_str());
      }
      WorkOptions o = one;
      o.stage = Stage::Report;
      return report_task(c, o);
    }
  }
  return s;
}

}  // namespace sv
