// The explain pipeline as typed stages and as a staged run over a work folder
// (apps/explain_stages.h, apps/explain_work.h):
//  - the shard of a task: --shard, the Slurm array variables, and the errors;
//  - features_at: φ at two layers from one forward pass equals features() at each, bitwise;
//  - the stages called alone: the features, readouts and pairs of a small run agree with
//    what the method says of them (independent checks, not the stages' own numbers);
//  - a staged run with N = 1, 2, 3 shards per stage merges into the same results.json
//    (every number, less the timings) and bitwise the same maps, readouts and figures as
//    --stage all in one process; a corrupted shard and one made with other options are
//    named and refused by the next stage and redone by a rerun.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <string>

#include "apps/explain.h"
#include "apps/explain_stages.h"
#include "apps/explain_work.h"
#include "apps/io/image.h"
#include "tests/error_of.h"
#include "tests/output_compare.h"
#include "tests/temp_dir.h"
#include "weights/model.h"

namespace sv {
namespace {

namespace fs = std::filesystem;

const fs::path kFashionMnist = "/usr/share/datasets/fashion-mnist";

EnvFn env_of(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

using test::error_of;

TEST(ExplainShard, FlagEnvironmentAndErrors) {
  const EnvFn none = env_of({});
  auto shard = [](const Shard& s) { return std::to_string(s.index) + "/" + std::to_string(s.count); };
  EXPECT_EQ(shard(resolve_shard("", none)), "0/1");
  EXPECT_EQ(shard(resolve_shard("3/8", none)), "3/8");
  EXPECT_EQ(shard(resolve_shard("", env_of({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}))), "2/4");
  // --array=5-7: ids 5..7 are shards 0..2 of 3 (MIN/MAX without COUNT)
  EXPECT_EQ(shard(resolve_shard("", env_of({{"SLURM_ARRAY_TASK_ID", "6"}, {"SLURM_ARRAY_TASK_MIN", "5"},
                                           {"SLURM_ARRAY_TASK_MAX", "7"}}))),
            "1/3");
  // A resubmitted task (--array=2) sees COUNT=1, MIN=MAX=2: the explicit flag wins.
  const EnvFn resubmitted =
      env_of({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "1"}, {"SLURM_ARRAY_TASK_MIN", "2"},
              {"SLURM_ARRAY_TASK_MAX", "2"}});
  EXPECT_EQ(shard(resolve_shard("2/4", resubmitted)), "2/4");
  EXPECT_EQ(shard(resolve_shard("", resubmitted)), "0/1");
  EXPECT_NE(error_of([] { resolve_shard("4/4", env_of({})); }).find("0 <= I < N"), std::string::npos);
  EXPECT_NE(error_of([] { resolve_shard("3", env_of({})); }).find("expected I/N"), std::string::npos);
  EXPECT_NE(error_of([] { resolve_shard("a/2", env_of({})); }).find("not a whole number"), std::string::npos);
  EXPECT_NE(error_of([] { resolve_shard("", env_of({{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_COUNT", "4"}})); })
                .find("pass --shard I/N"),
            std::string::npos);
  // The ranges of N shards cover 0..n once, in order, each within one item of n / N.
  for (int64_t n : {1, 7, 10})
    for (int64_t N = 1; N <= n; ++N) {
      int64_t next = 0;
      for (int64_t i = 0; i < N; ++i) {
        const auto [a, b] = shard_range({i, N}, n);
        EXPECT_EQ(a, next);
        EXPECT_LE(std::abs((b - a) * N - n), N);
        next = b;
      }
      EXPECT_EQ(next, n);
    }
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// One forward pass for φ at the readout layer and at the output (the synthetic logit
// source) equals a pass stopped at each; also for a layer inside a conv → bn → relu run,
// which the pass to the output would otherwise fuse away.
TEST(ExplainStages, FeaturesAtSeveralLayersFromOnePass) {
  Model m = load_model(std::string(SHAREDVIS_SOURCE_DIR) + "/weights/fmnist_cnn.safetensors");
  std::unique_ptr<Backend> be = make_cpu_backend(false, 1);
  Tensor x = Tensor::empty({5, 1, 28, 28}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(std::sin(0.37 * i));
  const std::vector<std::string> names = m.net->layer_names();
  std::string inner;  // the first BatchNorm inside the features (fused with its conv otherwise)
  for (const std::string& n : names)
    if (inner.empty() && n.rfind("features.", 0) == 0 && n != "features.0") inner = n;
  const std::vector<FeatureLayer> layers = {{"features", Pool::Avg}, {inner, Pool::Max}, {"classifier.4", Pool::None}};
  const std::vector<Tensor> got = features_at(m, *be, layers, x, 2);
  ASSERT_EQ(got.size(), layers.size());
  for (size_t k = 0; k < layers.size(); ++k)
    EXPECT_TRUE(same_bits(got[k], features(m, *be, layers[k].layer, layers[k].pool, x, 2))) << layers[k].layer;
}

// A small run's options: Fashion-MNIST's first images, two synthetic neurons, every
// evidence kind on with few steps.
ExplainOptions small_run(const fs::path& out) {
  ExplainOptions o;
  o.dataset = "fashion-mnist";
  o.limit = 150;
  o.synthetic = {"Bag", "Sandal", "Trouser"};
  o.top_ooc = 2;
  o.top_dims = 2;
  o.device = "cpu";
  o.faith_steps = 3;
  o.randomisation = true;
  o.progress = false;
  o.out = out.string();
  return o;
}

// A features task decodes only its slice of the images (a folder of files, and the dataset),
// the later stages none: the rows a task gets, now or later through set.pixels, are bitwise
// those of the whole set; rows outside the set are an error.
TEST(ExplainStages, ImageSetDecodesOnlyTheRowsAsked) {
  LoadedModel m = load_model_stage(ModelConfig{});
  const fs::path dir = fs::temp_directory_path() / ("sv_rows_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  for (const char* cat : {"a", "b"}) fs::create_directories(dir / cat);
  for (int i = 0; i < 7; ++i) {
    std::vector<uint8_t> rgb(28 * 28 * 3);
    for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = static_cast<uint8_t>((k * (i + 3) + 17 * i) % 251);
    write_png((dir / (i < 3 ? "a" : "b") / ("img" + std::to_string(i) + ".png")).string(), rgb, 28, 28);
  }
  InputConfig folder;
  folder.kind = InputKind::Images;
  folder.images = dir.string();
  std::vector<InputConfig> inputs = {folder};
  if (fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) {
    InputConfig ds;
    ds.limit = 40;
    inputs.push_back(ds);
  }
  for (const InputConfig& in : inputs) {
    const ImageSet all = load_image_set(in, m.model);
    const auto n = static_cast<int64_t>(all.images.size());
    ASSERT_EQ(all.x.dim(0), n);
    const Shard s{1, 3};
    const ImageSet part = load_image_set(in, m.model, [&](int64_t total) { return shard_range(s, total); });
    const auto [first, last] = shard_range(s, n);
    EXPECT_EQ(part.images.size(), all.images.size());
    EXPECT_EQ(part.x_first, first);
    ASSERT_EQ(part.x.dim(0), last - first);
    EXPECT_EQ(std::memcmp(part.x.raw(), all.x.slice0(first, last).raw(), part.x.nbytes()), 0);
    EXPECT_THROW(load_image_set(in, m.model, [](int64_t total) { return std::make_pair(total, total + 1); }),
                 ValueError);
    // No rows decodes none; pixels decodes any rows later, bitwise those of the whole set.
    const ImageSet none = load_image_set(in, m.model, [](int64_t) { return std::pair<int64_t, int64_t>{0, 0}; });
    EXPECT_FALSE(none.x.defined());
    EXPECT_EQ(none.images.size(), all.images.size());
    const Tensor some = none.pixels({n - 1, 0, n - 1});
    ASSERT_EQ(some.dim(0), 3);
    const size_t row = all.x.nbytes() / static_cast<size_t>(n);
    for (auto [k, i] : {std::pair<int64_t, int64_t>{0, n - 1}, std::pair<int64_t, int64_t>{1, 0},
                        std::pair<int64_t, int64_t>{2, n - 1}})
      EXPECT_EQ(std::memcmp(some.slice0(k, k + 1).raw(), all.x.slice0(i, i + 1).raw(), row), 0) << k;
  }
  fs::remove_all(dir);
}

// The stages called one by one, each result checked against what the method says of it.
TEST(ExplainStages, EachStageAlone) {
  if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const ExplainConfig c = make_config(small_run("unused"));
  LoadedModel m = load_model_stage(c.model);
  EXPECT_EQ(m.layer, "features");
  ImageSet set = load_image_set(c.input, m.model);
  ASSERT_EQ(set.x.dim(0), 150);
  const SourcePlan plan = source_plan(c.input, m.model, m.layer, set);
  ASSERT_TRUE(plan.needed);
  EXPECT_EQ(plan.source, SyntheticSource::Logit);
  const Features f = features_stage(c, m, set.x, plan);
  // The source is the model's output: its arg-max is the model's prediction, which agrees
  // with the labels on most of these test images (the bundled model's accuracy is 0.93).
  int agree = 0;
  for (int64_t i = 0; i < 150; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < f.source.dim(1); ++k)
      if (f.source.data<float>()[i * f.source.dim(1) + k] > f.source.data<float>()[i * f.source.dim(1) + best]) best = k;
    agree += best == set.labels[static_cast<size_t>(i)];
  }
  EXPECT_GT(agree, 120);
  const Analysed data = make_neurons(c, set, f.phi, f.source, plan);
  ASSERT_EQ(data.neurons.size(), 3u);
  // Neuron 0 is the Bag logit plus noise: its mean response over its repeats, at a Bag image,
  // is near that image's Bag logit.
  const int64_t bag = std::find(set.classes.begin(), set.classes.end(), "Bag") - set.classes.begin();
  const Readouts r = fit_stage(c, data);
  ASSERT_EQ(r.fitted.size(), 3u);
  const NeuronReadout& w = r.fitted[0];
  EXPECT_EQ(r.neurons[0].preferred, "Bag");
  for (int64_t i : w.pref) EXPECT_EQ(data.images[static_cast<size_t>(i)].category, "Bag");
  // noise: sd 0.1 x the logit's sd over all images (--noise), halved-ish by the 2 repeats' mean
  std::vector<double> logit(150);
  for (int64_t i = 0; i < 150; ++i) logit[static_cast<size_t>(i)] = f.source.data<float>()[i * f.source.dim(1) + bag];
  const double mean = std::accumulate(logit.begin(), logit.end(), 0.0) / 150;
  double var = 0;
  for (double v : logit) var += (v - mean) * (v - mean) / 150;
  for (size_t i = 0; i < logit.size(); ++i) EXPECT_NEAR(w.y[i], logit[i], 5 * 0.1 * std::sqrt(var)) << i;
  // The readout predicts the neuron within its category better than chance.
  EXPECT_GT(r.neurons[0].r_within, 0.3);
  // Pairs: the ooc images with the highest responses, each with a preferred reference.
  const Pairs p = pairs_stage(c.pairs, r, data, {0});
  ASSERT_EQ(p.plans.size(), 2u);
  std::vector<int64_t> ooc = w.ooc;
  std::sort(ooc.begin(), ooc.end(), [&](int64_t a, int64_t b) { return w.y[static_cast<size_t>(a)] > w.y[static_cast<size_t>(b)]; });
  EXPECT_EQ(p.plans[0].pair.ooc, ooc[0]);
  EXPECT_EQ(p.plans[1].pair.ooc, ooc[1]);
  for (const PairPlan& pl : p.plans) EXPECT_EQ(data.images[static_cast<size_t>(pl.pair.ref)].category, "Bag");
  EXPECT_EQ(p.cot.rows, 2 * (1 + 2));  // per pair: the shared cotangent and one per top dim
  EXPECT_EQ(p.jobs.size(), 2u * static_cast<size_t>(p.cot.rows));
}

using test::TempDir;

ExplainSummary stage(ExplainOptions o, const fs::path& work, const std::string& st, const std::string& shard = "") {
  o.work = work.string();
  o.stage = st;
  o.shard = shard;
  return run_explain(o);
}

// Every stage with N shards, in an order that runs the shards of one stage out of turn.
void run_staged(const ExplainOptions& o, const fs::path& work, int64_t N) {
  for (const char* st : {"features", "fit", "pairs"})
    for (int64_t i = N - 1; i >= 0; --i) stage(o, work, st, std::to_string(i) + "/" + std::to_string(N));
  stage(o, work, "report");
}

void expect_same_output(const fs::path& a, const fs::path& b) {
  EXPECT_EQ(testing::json_diff(testing::comparable_results(a), testing::comparable_results(b)), "") << "results.json";
  EXPECT_GT(testing::expect_same_files(a, b), 10);
}

TEST(ExplainWork, ShardedRunsMergeIntoTheOneProcessRun) {
  if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed";
  TempDir w("stages_merge");
  ExplainOptions o = small_run(w.root / "single");
  run_explain(o);
  for (int64_t N : {1, 2, 3}) {
    SCOPED_TRACE("N = " + std::to_string(N));
    const fs::path work = w.root / ("work" + std::to_string(N)), out = w.root / ("merged" + std::to_string(N));
    ExplainOptions so = o;
    so.out = out.string();
    run_staged(so, work, N);
    expect_same_output(w.root / "single", out);
    const nlohmann::json j = nlohmann::json::parse(testing::file_bytes(out / "results.json"));
    EXPECT_EQ(j["n_neurons"], 3);
    // A rerun of a complete shard skips it.
    EXPECT_NE(stage(so, work, "pairs", "0/" + std::to_string(N)).message.find("complete, skipped"), std::string::npos);
  }
  // --stage all with --work: every stage in turn in this process, the same result.
  ExplainOptions ao = o;
  ao.out = (w.root / "all_work").string();
  stage(ao, w.root / "work_all", "all");
  expect_same_output(w.root / "single", w.root / "all_work");
}

TEST(ExplainWork, StageOptionsThatDoNotFit) {
  ExplainOptions o = small_run(fs::temp_directory_path() / "sv_stages_unused");
  o.stage = "fit";
  EXPECT_NE(error_of([&] { run_explain(o); }).find("--stage fit needs --work DIR"), std::string::npos);
  o.stage = "all";
  o.shard = "0/2";
  EXPECT_NE(error_of([&] { run_explain(o); }).find("--shard applies to --stage features, fit or pairs"),
            std::string::npos);
  o.stage = "sideways";
  o.shard = "";
  EXPECT_NE(error_of([&] { run_explain(o); }).find("--stage must be all, features, fit, pairs or report"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(fs::temp_directory_path() / "sv_stages_unused"));
}

// Flips one byte in the middle of a file.
void corrupt(const fs::path& p) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  const auto size = static_cast<std::streamoff>(fs::file_size(p));
  f.seekg(size / 2);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(size / 2);
  f.write(&c, 1);
}

TEST(ExplainWork, CorruptAndForeignShardsAreRefusedAndRedone) {
  if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed";
  TempDir w("stages_refuse");
  ExplainOptions o = small_run(w.root / "single");
  o.randomisation = false;
  run_explain(o);
  const fs::path work = w.root / "work";
  o.out = (w.root / "merged").string();
  run_staged(o, work, 2);
  expect_same_output(w.root / "single", w.root / "merged");

  // A corrupted features shard: the next stage names it and refuses; a rerun of that shard redoes it.
  const fs::path phi = work / "features" / "00001-of-00002.phi.npy";
  corrupt(phi);
  fs::remove_all(work / "fit");
  std::string e = error_of([&] { stage(o, work, "fit", "0/2"); });
  EXPECT_NE(e.find("00001-of-00002.json: its file 00001-of-00002.phi.npy fails its CRC-32"), std::string::npos) << e;
  EXPECT_NE(stage(o, work, "features", "0/2").message.find("complete, skipped"), std::string::npos);
  EXPECT_NE(stage(o, work, "features", "1/2").message.find("written"), std::string::npos);
  // A truncated (partial) one the same.
  fs::resize_file(work / "features" / "00000-of-00002.phi.npy", 100);
  e = error_of([&] { stage(o, work, "fit", "0/2"); });
  EXPECT_NE(e.find("00000-of-00002.phi.npy has 100 bytes"), std::string::npos) << e;
  stage(o, work, "features", "0/2");
  for (const char* s : {"0/2", "1/2"}) stage(o, work, "fit", s);

  // A pairs shard made with other options: the report names it and refuses to merge.
  ExplainOptions other = o;
  other.top_k = 4;
  stage(other, work, "pairs", "1/2");
  o.out = (w.root / "merged2").string();
  e = error_of([&] { stage(o, work, "report"); });
  EXPECT_NE(e.find("pairs/00001-of-00002.json: made with other options (differing: /pairs/top_k)"), std::string::npos)
      << e;
  EXPECT_FALSE(fs::exists(w.root / "merged2"));
  // A missing one too.
  fs::remove(work / "pairs" / "00000-of-00002.json");
  e = error_of([&] { stage(o, work, "report"); });
  EXPECT_NE(e.find("pairs/00000-of-00002.json: missing"), std::string::npos) << e;
  // Rerunning both with the run's options redoes them; the merge equals the one-process run.
  for (const char* s : {"0/2", "1/2"}) EXPECT_NE(stage(o, work, "pairs", s).message.find("written"), std::string::npos);
  stage(o, work, "report");
  expect_same_output(w.root / "single", w.root / "merged2");
}

}  // namespace
}  // namespace sv
