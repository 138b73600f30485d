// The staged explain decodes only the pixels a task needs and the report streams the maps
// (apps/explain_work.h, apps/explain_report.h):
//  - the fit task decodes no image: it runs after every image file is replaced by garbage
//    (which a one-process run refuses, naming a file);
//  - a pairs task decodes its own pairs' images only: a garbage image outside them does not
//    stop it, one inside them is an error naming the file; the report likewise;
//  - the merged report still equals the one-process run's, bitwise;
//  - write_report holds one pair's maps at a time (a map source that counts live maps).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "apps/dataset.h"
#include "apps/explain.h"
#include "apps/explain_report.h"
#include "apps/explain_stages.h"
#include "apps/io/image.h"
#include "tests/error_of.h"
#include "tests/output_compare.h"
#include "tests/temp_dir.h"

namespace sv {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFashionMnist = "/usr/share/datasets/fashion-mnist";

using test::error_of;

using test::TempDir;

// The first n Fashion-MNIST test images as PNG files, one folder per category
// ("T-shirt/top" as T-shirt_top). Deterministic: a second call restores every file.
void write_image_folder(const fs::path& dir, int64_t n) {
  const Dataset d = load_fashion_mnist(kFashionMnist.string(), false, n, 0.0f, 1.0f);  // pixels / 255
  for (int64_t i = 0; i < d.size(); ++i) {
    std::string cat = d.classes[static_cast<size_t>(d.labels.data<int32_t>()[i])];
    std::replace(cat.begin(), cat.end(), '/', '_');
    std::vector<uint8_t> rgb(28 * 28 * 3);
    for (size_t k = 0; k < rgb.size(); ++k)
      rgb[k] = static_cast<uint8_t>(std::lround(255 * d.images.data<float>()[i * 28 * 28 + static_cast<int64_t>(k / 3)]));
    char name[32];
    std::snprintf(name, sizeof name, "img%03lld.png", static_cast<long long>(i));
    fs::create_directories(dir / cat);
    write_png((dir / cat / name).string(), rgb, 28, 28);
  }
}

// Bytes no image decoder accepts, under the image's name.
void garbage(const fs::path& p) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << "not an image, just text";
}

std::vector<fs::path> image_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  return files;
}

ExplainOptions folder_run(const fs::path& images, const fs::path& out) {
  ExplainOptions o;
  o.images = images.string();
  o.synthetic = {"Bag", "Sandal"};
  o.top_ooc = 2;
  o.top_dims = 1;
  o.device = "cpu";
  o.faith_steps = 3;
  o.progress = false;
  o.out = out.string();
  return o;
}

ExplainSummary stage(ExplainOptions o, const fs::path& work, const std::string& st, const std::string& shard = "") {
  o.work = work.string();
  o.stage = st;
  o.shard = shard;
  return run_explain(o);
}

// The image files (ids relative to the folder) of neuron k's pairs: ooc images and references.
std::set<std::string> pair_images(const json& results, size_t k) {
  std::set<std::string> ids;
  for (const json& p : results["neurons"][k]["pairs"]) {
    ids.insert(p["ooc"]["id"].get<std::string>());
    ids.insert(p["reference"]["id"].get<std::string>());
  }
  return ids;
}

TEST(ExplainLazy, FitDecodesNoPixelsPairsOnlyTheirOwn) {
  if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed";
  TempDir w("lazy_tasks");
  const fs::path images = w.root / "images", work = w.root / "work";
  write_image_folder(images, 80);
  ExplainOptions o = folder_run(images, w.root / "single");
  run_explain(o);
  const json single = json::parse(testing::file_bytes(w.root / "single" / "results.json"));
  ASSERT_EQ(single["n_neurons"], 2);
  ASSERT_EQ(single["n_skipped"], 0);
  o.out = (w.root / "merged").string();
  stage(o, work, "features");

  // Every image garbage: a run that decodes them fails naming one; the fit shards do not.
  for (const fs::path& f : image_files(images)) garbage(f);
  ExplainOptions again = o;
  again.out = (w.root / "unused").string();
  const std::string e = error_of([&] { run_explain(again); });
  EXPECT_NE(e.find(images.string()), std::string::npos) << e;
  EXPECT_NE(stage(o, work, "fit", "0/2").message.find("written"), std::string::npos);
  EXPECT_NE(stage(o, work, "fit", "1/2").message.find("written"), std::string::npos);

  // Pairs shard i of 2 holds fitted neuron i. An image of neuron 1's pairs that neuron 0's
  // do not show, and one of no pair, both garbage: shard 0 runs, shard 1 names the file.
  write_image_folder(images, 80);
  const std::set<std::string> first = pair_images(single, 0), second = pair_images(single, 1);
  std::string only_second, outside;
  for (const std::string& id : second)
    if (!first.count(id)) only_second = id;
  for (const fs::path& f : image_files(images)) {
    const std::string id = fs::relative(f, images).string();
    if (!first.count(id) && !second.count(id)) outside = id;
  }
  ASSERT_FALSE(only_second.empty());
  ASSERT_FALSE(outside.empty());
  garbage(images / only_second);
  garbage(images / outside);
  EXPECT_NE(stage(o, work, "pairs", "0/2").message.find("written"), std::string::npos);
  const std::string pe = error_of([&] { stage(o, work, "pairs", "1/2"); });
  EXPECT_NE(pe.find((images / only_second).string()), std::string::npos) << pe;
  EXPECT_EQ(pe.find(outside), std::string::npos) << pe;

  // Restored, shard 1 runs; the report, with the image of no pair still garbage, equals the
  // one-process run's.
  write_image_folder(images, 80);
  garbage(images / outside);
  EXPECT_NE(stage(o, work, "pairs", "1/2").message.find("written"), std::string::npos);
  stage(o, work, "report");
  EXPECT_EQ(testing::json_diff(testing::comparable_results(w.root / "single"), testing::comparable_results(w.root / "merged")),
            "");
  EXPECT_GT(testing::expect_same_files(w.root / "single", w.root / "merged"), 4);
  // A garbage image of a pair stops the report, naming the file.
  garbage(images / only_second);
  o.out = (w.root / "merged2").string();
  const std::string re = error_of([&] { stage(o, work, "report"); });
  EXPECT_NE(re.find((images / only_second).string()), std::string::npos) << re;
}

// Counts the maps a report holds: each map it is handed is a fresh copy whose storage
// counts itself while alive.
struct LiveMaps {
  int64_t live = 0, peak = 0, served = 0;
};

Tensor counted_copy(const Tensor& m, const std::shared_ptr<LiveMaps>& count) {
  void* buf = std::malloc(m.nbytes());
  std::memcpy(buf, m.raw(), m.nbytes());
  ++count->served;
  count->peak = std::max(count->peak, ++count->live);
  std::shared_ptr<void> storage(buf, [count](void* p) {
    std::free(p);
    --count->live;
  });
  return Tensor(std::move(storage), m.shape(), m.dtype(), Device::CPU);
}

TEST(ExplainLazy, ReportHoldsOnePairsMapsAtATime) {
  if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed";
  TempDir w("lazy_report");
  ExplainOptions o;
  o.dataset = "fashion-mnist";
  o.limit = 120;
  o.synthetic = {"Bag", "Sandal", "Trouser"};
  o.top_ooc = 2;
  o.top_dims = 2;
  o.device = "cpu";
  o.faithfulness = false;
  o.progress = false;
  const ExplainConfig c = make_config(o);
  LoadedModel m = load_model_stage(c.model);
  ImageSet set = load_image_set(c.input, m.model);
  const SourcePlan plan = source_plan(c.input, m.model, m.layer, set);
  const Features f = features_stage(c, m, set.x, plan);
  const Analysed data = make_neurons(c, std::move(set), f.phi, f.source, plan);
  const Readouts readouts = fit_stage(c, data);
  const Pairs pairs = pairs_stage(c.pairs, readouts, data);
  const Maps maps = backprop_stage(c, m, data, pairs);
  const Evidence ev = evidence_stage(c, m, readouts, pairs, maps);

  auto count = std::make_shared<LiveMaps>();
  ReportInputs in;
  in.config = &c;
  in.model = model_summary(m);
  in.data = &data;
  in.readouts = &readouts;
  in.pairs = &pairs;
  in.maps = maps_in_memory(maps, pairs);
  in.maps.saliency = [&maps, count](size_t job) { return counted_copy(maps.bp.saliency.at(job), count); };
  in.evidence = &ev;
  StagedOutput out((w.root / "out").string());
  const RunResult r = write_report(in, out);
  out.commit();
  const int64_t per_pair = 2 * (1 + o.top_dims);  // the shared map and one per top dim, of both images
  EXPECT_EQ(count->served, static_cast<int64_t>(pairs.jobs.size()));  // every map drawn once
  EXPECT_GT(count->served, 3 * per_pair);
  EXPECT_LE(count->peak, per_pair);
  EXPECT_EQ(count->live, 0);
  // The same report as the maps held in memory.
  in.maps = maps_in_memory(maps, pairs);
  StagedOutput whole((w.root / "whole").string());
  write_report(in, whole);
  whole.commit();
  EXPECT_EQ(testing::json_diff(testing::comparable_results(w.root / "out"), testing::comparable_results(w.root / "whole")),
            "");
  EXPECT_EQ(testing::expect_same_files(w.root / "out", w.root / "whole"), static_cast<int>(2 * pairs.plans.size()));
}

}  // namespace
}  // namespace sv
