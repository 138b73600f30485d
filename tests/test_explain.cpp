// The method end to end: the saliency of R_α against finite differences, the packing of
// every cotangent into multi-output passes, IG completeness, the responses CSV, and the
// `sharedvis explain` command on small inputs — good ones (results.json, gallery links)
// and every kind of bad one (a clear error, a non-zero exit, nothing under the final name).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/shape_probe.h"
#include "apps/io/csv.h"
#include "apps/io/image.h"
#include "apps/io/npy.h"
#include "apps/method/saliency.h"
#include "apps/method/shared.h"
#include "apps/method/synthetic.h"
#include "backends/factory.h"
#include "weights/models/archs.h"
#include "weights/safetensors.h"
#include "tests/tensor_compare.h"

namespace sv::test {

namespace fs = std::filesystem;

namespace {

// conv(2->4, pad 1) - bn - relu - conv(4->5, stride 2) - relu - fc; float64; input (N, 2, 6, 6).
Model small_model() {
  Model m;
  m.info.arch = "small";
  m.info.in_channels = 2;
  m.info.input_size = m.info.resize_size = 6;
  m.info.mean = {0.5f, 0.25f};
  m.info.std = {0.5f, 0.125f};
  auto net = std::make_unique<Sequential>();
  Conv2dParams p1;
  p1.pad_h = p1.pad_w = 1;
  net->add("conv1", std::make_unique<Conv2d>(2, 4, 3, p1, true));
  net->add("bn1", std::make_unique<BatchNorm2d>(4));
  net->add("relu1", std::make_unique<ReLU>());
  Conv2dParams p2;
  p2.stride_h = p2.stride_w = 2;
  p2.pad_h = p2.pad_w = 1;
  net->add("conv2", std::make_unique<Conv2d>(4, 5, 3, p2, false));
  net->add("relu2", std::make_unique<ReLU>());
  net->add("flatten", std::make_unique<Flatten>());
  net->add("fc", std::make_unique<Linear>(5 * 3 * 3, 6));
  m.net = std::move(net);
  uint64_t seed = 21;
  for (auto& [name, p] : m.net->state()) p->value = randn(p->value.shape(), seed++);
  static_cast<BatchNorm2d*>(m.net->child("bn1"))->running_var.value =
      Tensor::from_vector(std::vector<double>{0.5, 0.75, 1.0, 1.25}, {4});
  return m;
}

// R_α(x) = Σ_i α_i w_i (φ_i(x) − μ_i) / σ_i for one image.
double shared_response(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x1,
                       const std::vector<double>& alpha, const std::vector<double>& w, const Standardizer& st) {
  const Tensor phi = features(m, be, layer, pool, x1);
  double r = 0;
  for (size_t i = 0; i < w.size(); ++i)
    if (!st.constant[i]) r += alpha[i] * w[i] * (phi.item(static_cast<int64_t>(i)) - st.mu[i]) / st.sigma[i];
  return r;
}

Tensor image_of(const Tensor& x, int64_t i) { return x.slice0(i, i + 1).clone(); }

}  // namespace

// ---------------------------------------------------------------- saliency

TEST(Saliency, EqualsFiniteDifferenceOfSharedResponse) {
  Model m = small_model();
  auto be = make_cpu_backend(true);
  const Tensor x = randn({3, 2, 6, 6}, 5);
  for (Pool pool : {Pool::Avg, Pool::Max, Pool::None}) {
    const std::string layer = "relu2";
    const Mat phi = mat_from_tensor(features(m, *be, layer, pool, x));
    const Standardizer st = fit_standardizer(phi, {0, 1, 2});
    const Mat z = standardize(phi, st);
    const int64_t D = phi.cols;
    std::mt19937_64 rng(3);
    std::normal_distribution<double> nd;
    std::vector<double> w(D);
    for (double& v : w) v = nd(rng);
    std::vector<double> co(D), cr(D);
    for (int64_t i = 0; i < D; ++i) co[i] = w[i] * z(0, i), cr[i] = w[i] * z(2, i);
    const std::vector<double> alpha = shared_weights(SharedRule::SignedProduct, co, cr);
    Mat cot(1, D);
    cot.v = shared_cotangent(alpha, w, st);
    // The pair (0, 2) in one pass with the same cotangent.
    const BackpropResult r = parallel_backprop(m, *be, layer, pool, x, cot, {{0, 0}, {2, 0}}, AttrOptions{});
    ASSERT_EQ(r.saliency.size(), 2u);
    for (int j = 0; j < 2; ++j) {
      const int64_t img = j == 0 ? 0 : 2;
      const Tensor v = randn({1, 2, 6, 6}, 40 + j);
      const Tensor x0 = image_of(x, img);
      const double h = 1e-5;
      Tensor xp = x0.clone(), xm = x0.clone();
      for (int64_t i = 0; i < xp.numel(); ++i) {
        xp.data<double>()[i] += h * v.item(i);
        xm.data<double>()[i] -= h * v.item(i);
      }
      const double fd = (shared_response(m, *be, layer, pool, xp, alpha, w, st) -
                         shared_response(m, *be, layer, pool, xm, alpha, w, st)) / (2 * h);
      double dir = 0;
      for (int64_t i = 0; i < v.numel(); ++i) dir += r.saliency[j].item(i) * v.item(i);
      EXPECT_NEAR(dir, fd, 1e-6 * (1 + std::abs(fd))) << "pool " << pool_name(pool) << " image " << img;
    }
  }
}

TEST(Saliency, PackingManyCotangentsMatchesOneAtATime) {
  // Decomposition maps of every dimension sum to the full map; any --max-batch gives the
  // same maps; images carry different numbers of cotangents.
  Model m = small_model();
  auto be = make_cpu_backend(true);
  const Tensor x = randn({3, 2, 6, 6}, 7);
  const std::string layer = "relu2";
  const Mat phi = mat_from_tensor(features(m, *be, layer, Pool::Avg, x));
  const Standardizer st = fit_standardizer(phi, {0, 1, 2});
  const int64_t D = phi.cols;
  std::vector<double> w(D), alpha(D);
  for (int64_t i = 0; i < D; ++i) w[i] = 0.3 * (i + 1) - 0.7, alpha[i] = 1.0 / D;
  Mat cot(D + 1, D);
  const std::vector<double> full = shared_cotangent(alpha, w, st);
  std::copy(full.begin(), full.end(), cot.row(0));
  std::vector<BackpropJob> jobs = {{0, 0}, {1, 0}, {2, 0}};
  for (int64_t d = 0; d < D; ++d) {
    const std::vector<double> g = dimension_cotangent(d, alpha, w, st);
    std::copy(g.begin(), g.end(), cot.row(d + 1));
    jobs.push_back({1, d + 1});  // image 1 carries all D + 1 cotangents, the others one
  }
  AttrOptions big, tiny;
  tiny.max_batch = 1;
  const BackpropResult a = parallel_backprop(m, *be, layer, Pool::Avg, x, cot, jobs, big);
  const BackpropResult b = parallel_backprop(m, *be, layer, Pool::Avg, x, cot, jobs, tiny);
  EXPECT_EQ(a.max_k, D + 1);
  EXPECT_EQ(a.forward_batches, 1);
  EXPECT_EQ(b.forward_batches, 3);
  for (size_t j = 0; j < jobs.size(); ++j)
    for (int64_t i = 0; i < a.saliency[j].numel(); ++i) EXPECT_NEAR(a.saliency[j].item(i), b.saliency[j].item(i), 1e-12);
  for (int64_t i = 0; i < a.saliency[1].numel(); ++i) {
    double sum = 0;
    for (int64_t d = 0; d < D; ++d) sum += a.saliency[3 + d].item(i);
    EXPECT_NEAR(sum, a.saliency[1].item(i), 1e-10);
  }
  // One vjp per image with its own cotangent gives the same as the packed pass.
  for (int64_t img = 0; img < 3; ++img) {
    Tensor G = Tensor::zeros({1, D}, DType::F64);
    for (int64_t d = 0; d < D; ++d) G.data<double>()[d] = full[d];
    const Tensor s = vjp(m, *be, layer, Pool::Avg, image_of(x, img), G);
    for (int64_t i = 0; i < s.numel(); ++i) EXPECT_NEAR(s.item(i), a.saliency[img].item(i), 1e-12);
  }
}

TEST(Saliency, IntegratedGradientsCompleteness) {
  Model m = small_model();
  auto be = make_cpu_backend(true);
  const Tensor x = randn({2, 2, 6, 6}, 9);
  const std::string layer = "relu2";
  const Mat phi = mat_from_tensor(features(m, *be, layer, Pool::Avg, x));
  const Standardizer st = fit_standardizer(phi, {0, 1});
  const int64_t D = phi.cols;
  std::vector<double> w(D, 1.0), alpha(D, 1.0 / D);
  Mat cot(1, D);
  cot.v = shared_cotangent(alpha, w, st);
  AttrOptions opt;
  opt.attr = Attr::IG;
  opt.baseline = "zero";
  double gap_few = 0;
  for (int steps : {4, 256}) {
    opt.steps = steps;
    const BackpropResult r = parallel_backprop(m, *be, layer, Pool::Avg, x, cot, {{0, 0}, {1, 0}}, opt);
    for (int j = 0; j < 2; ++j) {
      // Completeness by hand: Σ S_IG against R_α(x) − R_α(0).
      double sum = 0;
      for (int64_t i = 0; i < r.saliency[j].numel(); ++i) sum += r.saliency[j].item(i);
      const Tensor xi = image_of(x, j);
      const double delta = shared_response(m, *be, layer, Pool::Avg, xi, alpha, w, st) -
                           shared_response(m, *be, layer, Pool::Avg, Tensor::zeros(xi.shape(), DType::F64), alpha, w, st);
      const double gap = std::abs(sum - delta) / std::abs(delta);
      EXPECT_NEAR(r.ig_gap[j], gap, 1e-6 * (1 + gap));
      if (steps == 256) {
        EXPECT_LT(gap, 2e-3) << "image " << j;
      }
      if (steps == 4) gap_few = std::max(gap_few, gap);
    }
  }
  EXPECT_GT(gap_few, 0.0);
}

// ---------------------------------------------------------------- layer order

TEST(Synthetic, LayerOrder) {
  Model m = small_model();
  EXPECT_EQ(output_layer(*m.net), "fc");
  EXPECT_EQ(last_feature_layer(*m.net), "relu2");
  EXPECT_TRUE(layer_precedes(*m.net, "conv1", "fc"));
  EXPECT_TRUE(layer_precedes(*m.net, "relu2", "fc"));
  EXPECT_FALSE(layer_precedes(*m.net, "fc", "fc"));
  EXPECT_FALSE(layer_precedes(*m.net, "relu2", "relu2"));
  EXPECT_THROW(check_layer_precedes(*m.net, "fc", "fc", "logits"), ValueError);
  // Nested: a composite that contains the source does not come before it.
  Sequential outer;
  auto inner = std::make_unique<Sequential>();
  inner->push(std::make_unique<ReLU>());
  inner->push(std::make_unique<ReLU>());
  outer.add("a", std::make_unique<ReLU>());
  outer.add("b", std::move(inner));
  EXPECT_EQ(output_layer(outer), "b.1");
  EXPECT_TRUE(layer_precedes(outer, "b.0", "b.1"));
  EXPECT_FALSE(layer_precedes(outer, "b", "b.1"));
  EXPECT_TRUE(layer_precedes(outer, "a", "b"));
}

TEST(Synthetic, HalvesAndNoise) {
  std::vector<int> labels = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  std::vector<int64_t> a, b;
  split_halves(labels, 3, a, b);
  EXPECT_EQ(a.size() + b.size(), labels.size());
  int a1 = 0;
  for (int64_t i : a) a1 += labels[i];
  EXPECT_EQ(a1, 3);  // stratified: half of each category
  std::mt19937_64 rng(1);
  const std::vector<double> clean = {1, 2, 3, 4, 5, 6, 7, 8};
  const Mat rep = noisy_repeats(clean, 0.0, 3, rng);
  EXPECT_EQ(rep.cols, 3);
  EXPECT_EQ(repeat_mean(rep), clean);
  const Mat noisy = noisy_repeats(clean, 0.5, 2, rng);
  EXPECT_NE(noisy(0, 0), noisy(0, 1));
}

// ---------------------------------------------------------------- CSV

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("sv_explain_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::string file(const std::string& name, const std::string& text) const {
    const fs::path p = path / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
};

std::string csv_error(const std::string& text) {
  TempDir d;
  d.file("a.png", "x");
  const std::string path = d.file("r.csv", text);
  try {
    read_responses_csv(path);
  } catch (const IoError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(ResponsesCsv, ReadsRepeatsAndPaths) {
  TempDir d;
  d.file("img/a.png", "x");
  d.file("img/b c.png", "x");
  const std::string path = d.file("r.csv",
                                  "image,category,n1#1,n2,n1#2\n"
                                  "img/a.png,body,1.5,2,2.5\n"
                                  "\"img/b c.png\",object,-1,3e2,0\n");
  const ResponseTable t = read_responses_csv(path);
  ASSERT_EQ(t.neurons, (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(t.images[1], (d.path / "img/b c.png").string());
  EXPECT_EQ(t.categories[1], "object");
  EXPECT_EQ(t.repeats[0].cols, 2);
  EXPECT_EQ(t.repeats[0](0, 1), 2.5);
  EXPECT_EQ(t.repeats[0](1, 0), -1.0);
  EXPECT_EQ(t.repeats[1].cols, 1);
  EXPECT_EQ(t.repeats[1](1, 0), 300.0);
}

TEST(ResponsesCsv, ErrorsNameFileLineAndColumn) {
  std::string e = csv_error("image,category,n1\na.png,body,\n");
  EXPECT_NE(e.find("r.csv: line 2, column 'n1': missing value"), std::string::npos) << e;
  e = csv_error("image,category,n1,n2\na.png,body,1,abc\n");
  EXPECT_NE(e.find("line 2, column 'n2': 'abc' is not a number"), std::string::npos) << e;
  e = csv_error("image,category,n1\na.png,body,1\na.png,body\n");
  EXPECT_NE(e.find("line 3: 2 fields, but the header has 3"), std::string::npos) << e;
  e = csv_error("image,category,n1\nmissing.png,body,1\n");
  EXPECT_NE(e.find("line 2, column 'image'"), std::string::npos) << e;
  EXPECT_NE(e.find("missing.png does not exist"), std::string::npos) << e;
  e = csv_error("img,cat,n1\n");
  EXPECT_NE(e.find("header must start with the columns image,category"), std::string::npos) << e;
  e = csv_error("image,category,n1#2\na.png,body,1\n");
  EXPECT_NE(e.find("n1#1 missing"), std::string::npos) << e;
  e = csv_error("image,category,n1,n1\na.png,body,1,2\n");
  EXPECT_NE(e.find("duplicate column"), std::string::npos) << e;
  e = csv_error("image,category,n1\n");
  EXPECT_NE(e.find("no data rows"), std::string::npos) << e;
  e = csv_error("image,category,n1\na.png,,1\n");
  EXPECT_NE(e.find("column 'category': missing value"), std::string::npos) << e;
}

// ---------------------------------------------------------------- the command

namespace {

struct CliResult {
  int status = -1;
  std::string output;
};

CliResult run_cli(const std::string& args) {
  const std::string cmd = std::string(SHAREDVIS_CLI) + " explain --no-progress " + args + " 2>&1";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// A small fmnist_cnn model file with portable random weights: 3 classes.
std::string tiny_model_file(const fs::path& dir) {
  ModelInfo info;
  info.arch = "fmnist_cnn";
  info.in_channels = 1;
  info.num_classes = 3;
  info.input_size = info.resize_size = 28;
  info.mean = {0.5f};
  info.std = {0.25f};
  info.metadata["classes"] = "body,face,object";
  Model m = make_model(info);
  init_portable(*m.net, 7);
  const std::string path = (dir / "tiny.safetensors").string();
  save_model(m, path);
  return path;
}

// Images of three categories with different textures: 28x28 RGB PNGs.
std::vector<std::pair<std::string, std::string>> write_images(const fs::path& dir, int per_category) {
  std::vector<std::pair<std::string, std::string>> out;  // (relative path, category)
  const char* cats[] = {"body", "face", "object"};
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < per_category; ++i) {
      std::vector<uint8_t> px(28 * 28 * 3);
      const double fx = 0.2 + 0.3 * c + 0.05 * i, phase = u(rng) * 6.28;
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
          const double v = 0.5 + 0.4 * std::sin(fx * (c == 1 ? y : x) + phase) * (c == 2 ? (x > 14) : 1.0);
          for (int k = 0; k < 3; ++k) px[(y * 28 + x) * 3 + k] = static_cast<uint8_t>(255 * std::clamp(v + 0.1 * u(rng), 0.0, 1.0));
        }
      const std::string rel = std::string(cats[c]) + "/img" + std::to_string(i) + ".png";
      fs::create_directories(dir / cats[c]);
      write_png((dir / rel).string(), px, 28, 28);
      out.emplace_back(rel, cats[c]);
    }
  return out;
}

// A CSV of recorded responses for the images: n1 prefers body (2 repeats), n2 is
// constant, n3 noisy single-repeat.
std::string write_csv(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& imgs) {
  std::ostringstream s;
  s << "image,category,n1#1,n1#2,n2,n3\n";
  std::mt19937_64 rng(11);
  std::normal_distribution<double> nd;
  for (size_t i = 0; i < imgs.size(); ++i) {
    const double base = imgs[i].second == "body" ? 10.0 : 4.0 + (i % 5);
    s << imgs[i].first << "," << imgs[i].second << "," << base + nd(rng) << "," << base + nd(rng) << ",3," << nd(rng) << "\n";
  }
  const std::string path = (dir / "responses.csv").string();
  std::ofstream(path) << s.str();
  return path;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// Every src="..." and href="..." of the gallery is a relative path that exists.
void expect_links_exist(const fs::path& out) {
  std::ifstream in(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::regex link("(src|href)=\"([^\"]*)\"");
  int n = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), link); it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[2];
    if (target.rfind("#", 0) == 0) continue;
    EXPECT_EQ(target.find("://"), std::string::npos) << target;
    EXPECT_FALSE(fs::path(target).is_absolute()) << target;
    EXPECT_TRUE(fs::exists(out / target)) << target;
    ++n;
  }
  EXPECT_GT(n, 5);
}

// No final output folder and no temporary sibling left behind.
void expect_nothing_written(const fs::path& out) {
  EXPECT_FALSE(fs::exists(out)) << out;
  for (const auto& e : fs::directory_iterator(out.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

struct ExplainCli : ::testing::Test {
  TempDir dir;
  std::string model;
  std::vector<std::pair<std::string, std::string>> images;
  std::string csv;
  void SetUp() override {
    // The fixture's model is the bundled architecture; until it is registered there is
    // nothing to run the command on.
    if (!find_arch("fmnist_cnn")) GTEST_SKIP() << "architecture fmnist_cnn is not registered";
    model = tiny_model_file(dir.path);
    images = write_images(dir.path / "imgs", 6);
    csv = write_csv(dir.path / "imgs", images);
  }
  std::string base_args() const { return "--model " + model + " --layer features.6 --folds 3 "; }
};

}  // namespace

TEST_F(ExplainCli, RecordedResponsesEndToEnd) {
  const fs::path out = dir.path / "out";
  const CliResult r = run_cli(base_args() + "--responses " + csv + " --preferred body --top-ooc 2 --top-k 3 --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("gallery: " + out.string() + "/index.html"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("neuron 'n2' skipped: constant responses"), std::string::npos) << r.output;
  const nlohmann::json j = read_json(out / "results.json");
  EXPECT_EQ(j["choices"]["layer"], "features.6");
  EXPECT_EQ(j["choices"]["pool"], "avg");
  EXPECT_EQ(j["choices"]["similarity"], "cosine");
  EXPECT_EQ(j["choices"]["shared"], "relu-product");
  EXPECT_EQ(j["choices"]["attr"], "grad");
  EXPECT_EQ(j["choices"]["folds"], 3);
  EXPECT_EQ(j["lambda_grid"].size(), 17u);
  ASSERT_EQ(j["neurons"].size(), 3u);
  const auto& n1 = j["neurons"][0];
  EXPECT_EQ(n1["name"], "n1");
  EXPECT_EQ(n1["repeats"], 2);
  EXPECT_FALSE(n1["skipped"].get<bool>());
  EXPECT_TRUE(n1["lambda"].is_number());
  EXPECT_TRUE(n1["r_within"].is_number() || n1["r_within"].is_null());
  EXPECT_TRUE(n1["reliability"].is_number());  // two repeats: split-half defined
  EXPECT_TRUE(j["neurons"][2]["reliability"].is_null());  // one repeat
  EXPECT_TRUE(j["neurons"][1]["skipped"].get<bool>());
  ASSERT_EQ(n1["pairs"].size(), 2u);
  for (const auto& p : n1["pairs"]) {
    EXPECT_NE(p["ooc"]["category"], "body");
    EXPECT_EQ(p["reference"]["category"], "body");
    EXPECT_LE(p["candidates"].size(), 3u);
    EXPECT_EQ(p["candidates"][0]["index"], p["reference"]["index"]);
    EXPECT_TRUE(p["similarity"].is_number());
    for (const char* side : {"ooc", "reference"}) {
      const fs::path npy = out / p[side]["saliency_npy"].get<std::string>();
      ASSERT_TRUE(fs::exists(npy)) << npy;
      EXPECT_EQ(read_npy(npy.string()).shape(), (Shape{1, 28, 28}));
      EXPECT_TRUE(fs::exists(out / p[side]["overlay_png"].get<std::string>()));
    }
    EXPECT_LE(p["top_dims"].size(), 3u);
    EXPECT_EQ(p["decomposition"].size(), p["top_dims"].size());
  }
  // The ooc images are the top ones by recorded response (mean of the repeats).
  EXPECT_GE(n1["pairs"][0]["ooc"]["recorded"].get<double>(), n1["pairs"][1]["ooc"]["recorded"].get<double>());
  // The method's defaults (docs/method.md §1, §5) and what each r is.
  EXPECT_EQ(j["choices"]["lambda_rule"], "best");
  EXPECT_EQ(j["choices"]["decomposition_scale"], "pair");
  EXPECT_EQ(j["inputs"]["heatmap"]["smooth_sigma_px"], 1.0);  // 2% of 28 px is below the 1-px floor
  EXPECT_EQ(n1["r"]["cv_fold_mean"]["kind"], "per-fold mean");
  EXPECT_EQ(n1["r"]["within"]["kind"], "pooled out-of-fold");
  EXPECT_EQ(n1["r"]["ooc"]["kind"], "held-out");
  EXPECT_EQ(n1["r"]["ooc"]["n"], 12);  // the face and object images: none fitted on
  EXPECT_EQ(n1["r"]["within"]["value"], n1["r_within"]);
  EXPECT_EQ(n1["r"]["cv_fold_mean"]["value"], n1["cv_score"]);
  EXPECT_TRUE(n1["readout_check"]["flags"].is_array());
  EXPECT_EQ(n1["selectivity"]["top_k"], 6);
  EXPECT_TRUE(n1["selectivity"]["top_ooc_share"].is_number());
  EXPECT_NEAR(n1["selectivity"]["chance_share"].get<double>(), 12.0 / 18.0, 1e-12);
  for (const auto& p : n1["pairs"]) {
    EXPECT_FALSE(p["ooc"]["predicted_in_sample"].get<bool>());
    EXPECT_TRUE(p["ooc"]["percentile_in_preferred"].is_number());
    // Decomposition panels are drawn on their pair's scale, and say so.
    for (const auto& d : p["decomposition"]) {
      EXPECT_EQ(d["heatmap_scale"], p["heatmap_scale"]);
      EXPECT_TRUE(d["own_scale"].is_number());
    }
  }
  // readout.safetensors: w (2 fitted neurons, the channels of features.6), shared mu/sigma.
  Model m = load_model(model);
  int64_t channels = 0;
  for (const LayerShape& l : layer_output_shapes(m, {1, 1, 28, 28}))
    if (l.name == "features.6") channels = l.shape.at(1);
  ASSERT_GT(channels, 0);
  SafetensorsReader rf((out / "readout.safetensors").string());
  EXPECT_EQ(rf.find("w")->shape, (Shape{2, channels}));
  EXPECT_EQ(rf.find("mu")->shape, (Shape{channels}));
  EXPECT_EQ(rf.metadata().at("layer"), "features.6");
  expect_links_exist(out);
  expect_nothing_written(dir.path / "never");  // sanity of the helper on a clean folder
}

TEST_F(ExplainCli, SyntheticNeuronsOnAnImageFolderWithIG) {
  const fs::path out = dir.path / "out_syn";
  fs::remove(dir.path / "imgs" / "responses.csv");
  const CliResult r = run_cli(base_args() + "--images " + (dir.path / "imgs").string() +
                              " --synthetic body,object --synthetic-source fitted --attr ig --steps 8 --top-ooc 1 "
                              "--similarity shared --shared geomean --reduce sum --colormap viridis --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json j = read_json(out / "results.json");
  EXPECT_EQ(j["inputs"]["synthetic"]["source"], "fitted");
  EXPECT_EQ(j["inputs"]["synthetic"]["source_layer"], "classifier.2");
  EXPECT_EQ(j["choices"]["attr"], "ig");
  ASSERT_EQ(j["neurons"].size(), 2u);
  EXPECT_EQ(j["neurons"][0]["repeats"], 2);
  for (const auto& n : j["neurons"]) {
    if (n["skipped"].get<bool>()) continue;
    for (const auto& p : n["pairs"]) EXPECT_TRUE(p["ooc"]["ig_completeness_gap"].is_number());
  }
  expect_links_exist(out);
  // The logit source with the model's "classes" metadata, and a layer that is not before it.
  const CliResult bad = run_cli("--model " + model + " --layer classifier --folds 3 --images " +
                                (dir.path / "imgs").string() + " --synthetic body --synthetic-source logit --out " +
                                (dir.path / "out_bad").string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("does not come before the synthetic responses' source"), std::string::npos) << bad.output;
  expect_nothing_written(dir.path / "out_bad");
}

// The evidence of docs/method.md §8 in results.json and the gallery: four maps' curves of
// --faith-steps + 1 responses per pair image, ending at the image's and the baseline's
// response; the randomisation stages of the readout layer; nothing with --no-faithfulness;
// bad evidence flags rejected before any work.
TEST_F(ExplainCli, FaithfulnessAndRandomisationInTheReport) {
  const fs::path out = dir.path / "out_ev";
  fs::remove(dir.path / "imgs" / "responses.csv");
  const std::string imgs = (dir.path / "imgs").string();
  const CliResult r = run_cli(base_args() + "--images " + imgs + " --synthetic body --top-ooc 2 --faith-steps 4 "
                              "--faith-baseline mean --randomisation --max-batch 5 --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json j = read_json(out / "results.json");
  EXPECT_EQ(j["faithfulness"]["steps"], 4);
  EXPECT_EQ(j["faithfulness"]["baseline"], "mean");
  EXPECT_EQ(j["randomisation"]["stages"], nlohmann::json({"features.4", "features.0"}));
  int images = 0;
  for (const auto& n : j["neurons"]) {
    if (n["skipped"].get<bool>()) continue;
    EXPECT_TRUE(n["faithfulness_min_drop"].is_number());
    for (const auto& p : n["pairs"])
      for (const char* side : {"ooc", "reference"}) {
        const auto& f = p[side]["faithfulness"];
        ASSERT_EQ(f.size(), 4u) << f.dump();
        for (const char* method : {"shared", "gradient", "ig", "random"}) {
          const auto& c = f[method];
          ASSERT_EQ(c["deletion"].size(), 5u);
          ASSERT_EQ(c["insertion"].size(), 5u);
          const double full = c["response_image"], base = c["response_baseline"];
          EXPECT_EQ(c["deletion"][0].get<double>(), full);
          EXPECT_EQ(c["deletion"][4].get<double>(), base);
          EXPECT_NEAR(c["insertion"][0].get<double>(), base, 1e-4 * (1 + std::abs(base)));
          EXPECT_NEAR(c["insertion"][4].get<double>(), full, 1e-4 * (1 + std::abs(full)));
          // The recorded image response is the pair's prediction for that image.
          EXPECT_NEAR(full, p[side]["predicted"].get<double>(), 1e-3 * (1 + std::abs(full)));
          EXPECT_EQ(c["deletion_auc"].is_null(), c.contains("auc_null_because"));
        }
        ASSERT_EQ(p[side]["randomisation"].size(), 2u);
        EXPECT_TRUE(p[side]["randomisation"][0]["spearman"].is_number());
        ++images;
      }
  }
  EXPECT_GT(images, 0);
  EXPECT_EQ(j["faithfulness"]["summary"].size(), 4u);
  EXPECT_EQ(j["randomisation"]["summary"].size(), 2u);
  std::ifstream in(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("Faithfulness: do the maps find"), std::string::npos);
  EXPECT_NE(html.find("Model randomisation: do the maps depend"), std::string::npos);
  expect_links_exist(out);

  const fs::path off = dir.path / "out_noev";
  const CliResult r2 = run_cli(base_args() + "--images " + imgs + " --synthetic body --top-ooc 1 --no-faithfulness --out " +
                               off.string());
  ASSERT_EQ(r2.status, 0) << r2.output;
  const nlohmann::json j2 = read_json(off / "results.json");
  EXPECT_TRUE(j2["faithfulness"].is_null());
  EXPECT_TRUE(j2["randomisation"].is_null());
  EXPECT_FALSE(j2["neurons"][0]["pairs"][0]["ooc"].contains("faithfulness"));

  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {"--faith-baseline black", "--faith-baseline must be blur, zero or mean"},
           {"--faith-steps 0", "--faith-steps must be >= 1"},
           {"--randomisation --randomisation-seed -1", "must be an integer >= 0"}}) {
    const fs::path bad = dir.path / "out_badev";
    const CliResult b = run_cli(base_args() + "--images " + imgs + " --synthetic body " + args + " --out " + bad.string());
    EXPECT_NE(b.status, 0) << args;
    EXPECT_NE(b.output.find(expect), std::string::npos) << b.output;
    expect_nothing_written(bad);
  }
}

TEST_F(ExplainCli, BadInputsFailClearly) {
  const std::string imgs = (dir.path / "imgs").string();
  struct Case {
    std::string name, args, expect;
  };
  const std::string badcsv1 = dir.file("imgs/bad1.csv", "image,category,n1\nbody/img0.png,body,1\nbody/img1.png,body,\n");
  const std::string badcsv2 = dir.file("imgs/bad2.csv", "image,category,n1\nbody/img0.png,body,x1\n");
  const std::string badcsv3 = dir.file("imgs/bad3.csv", "image,category,n1\nbody/nothere.png,body,1\n");
  dir.file("imgs/broken.png", "this is not a png");
  const std::string badcsv4 = dir.file("imgs/bad4.csv", "image,category,n1\nbroken.png,body,1\nbody/img0.png,body,2\n");
  // Every neuron constant (nothing to explain); responses whose squares overflow doubles.
  std::string constant = "image,category,n1\n", huge = "image,category,n1\n";
  for (size_t i = 0; i < images.size(); ++i) {
    constant += images[i].first + "," + images[i].second + ",3\n";
    huge += images[i].first + "," + images[i].second + "," + std::to_string(i + 1) + "e300\n";
  }
  const std::string badcsv5 = dir.file("imgs/bad5.csv", constant), badcsv6 = dir.file("imgs/bad6.csv", huge);
  const std::vector<Case> cases = {
      {"missing value", "--responses " + badcsv1 + " --preferred body", "bad1.csv: line 3, column 'n1': missing value"},
      {"non-numeric", "--responses " + badcsv2 + " --preferred body", "bad2.csv: line 2, column 'n1': 'x1' is not a number"},
      {"image missing", "--responses " + badcsv3 + " --preferred body", "nothere.png does not exist"},
      {"image undecodable", "--responses " + badcsv4 + " --preferred body", "broken.png"},
      {"preferred absent", "--responses " + csv + " --preferred dog", "no row has category 'dog'"},
      {"fewer images than folds", "--responses " + csv + " --preferred body --folds 7", "fewer than the 7 cross-validation folds"},
      {"unknown layer", "--responses " + csv + " --preferred body --layer nonsense", "unknown layer 'nonsense'"},
      {"unknown category", "--images " + imgs + " --synthetic dog", "no category 'dog'"},
      {"bad option", "--responses " + csv + " --preferred body --similarity euclid", "unknown similarity 'euclid'"},
      {"nothing to explain", "--responses " + badcsv5 + " --preferred body",
       "no neuron can be explained: every neuron was skipped\n  n1: constant responses"},
      {"responses overflow", "--responses " + badcsv6 + " --preferred body", "neuron 'n1'"},
      {"grid not a number", "--responses " + csv + " --preferred body --lambda-grid 1e-2,1e6,3x", "'3x' is not a finite number"},
      {"grid reversed", "--responses " + csv + " --preferred body --lambda-grid 10,1,5", "0 < lo < hi"},
      {"lambda nan", "--responses " + csv + " --preferred body --lambda nan", "--lambda must be a finite number"},
      {"negative seed", "--responses " + csv + " --preferred body --seed -1", "--seed"},
      {"negative limit", "--dataset fashion-mnist --limit -5", "--limit"},
      {"empty synthetic name", "--images " + imgs + " --synthetic body,,other", "an empty category name"},
      {"duplicate synthetic name", "--images " + imgs + " --synthetic body,body", "'body' named twice"},
      {"responses is a folder", "--responses " + imgs + " --preferred body", "is a directory, not a file"},
      {"negative threads", "--responses " + csv + " --preferred body --device cpu --threads -2", "--threads must be >= 0"},
      {"threads off the cpu", "--responses " + csv + " --preferred body --device auto --threads 2",
       "--threads needs --device cpu"},
  };
  for (const Case& c : cases) {
    const fs::path out = dir.path / ("out_" + std::to_string(&c - cases.data()));
    std::string args = c.args;
    if (args.find("--layer") == std::string::npos) args = "--layer features.6 " + args;
    const CliResult r = run_cli("--model " + model + " " + args + " --out " + out.string());
    EXPECT_NE(r.status, 0) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.name << ": " << r.output;
    EXPECT_NE(r.output.find("error"), std::string::npos) << c.name;
    expect_nothing_written(out);
  }
  // An output folder that cannot be written: its parent is a file.
  const std::string file = dir.file("a_file", "x");
  const CliResult r = run_cli(base_args() + "--responses " + csv + " --preferred body --out " + file + "/out");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(file), std::string::npos) << r.output;
  // An existing folder that is not an earlier output is never replaced.
  fs::create_directories(dir.path / "precious");
  dir.file("precious/keep.txt", "mine");
  const CliResult p = run_cli(base_args() + "--responses " + csv + " --preferred body --out " + (dir.path / "precious").string());
  EXPECT_NE(p.status, 0);
  EXPECT_NE(p.output.find("not an earlier sharedvis output"), std::string::npos) << p.output;
  EXPECT_TRUE(fs::exists(dir.path / "precious/keep.txt"));
}

TEST_F(ExplainCli, FitOnAllShowsNoInSampleOocR) {
  const fs::path out = dir.path / "out_all";
  const CliResult r = run_cli(base_args() + "--responses " + csv + " --preferred body --fit-on all --top-ooc 1 --out " +
                              out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json n1 = read_json(out / "results.json")["neurons"][0];
  ASSERT_FALSE(n1["skipped"].get<bool>());
  EXPECT_EQ(n1["n_fit"], 18);
  // Every ooc image was fitted on: no held-out r_ooc, and why; the out-of-fold r apart.
  EXPECT_TRUE(n1["r_ooc"].is_null());
  EXPECT_TRUE(n1["r"]["ooc"]["value"].is_null());
  EXPECT_EQ(n1["r"]["ooc"]["n"], 0);
  EXPECT_NE(n1["r"]["ooc"]["absent_because"].get<std::string>().find("--fit-on all"), std::string::npos);
  EXPECT_EQ(n1["r"]["ooc_out_of_fold"]["kind"], "pooled out-of-fold");
  EXPECT_EQ(n1["r"]["ooc_out_of_fold"]["n"], 12);
  EXPECT_TRUE(n1["pairs"][0]["ooc"]["predicted_in_sample"].get<bool>());
  std::ifstream in(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("r ooc (held-out) not given"), std::string::npos);
  EXPECT_NE(html.find("r ooc (pooled out-of-fold)"), std::string::npos);
}

TEST_F(ExplainCli, CollapsedReadoutIsFlagged) {
  // λ from {1e7, 1e8} on 6 fit images: the readout is a constant plus ~1e-6 of signal.
  const fs::path out = dir.path / "out_flat";
  const CliResult r = run_cli(base_args() + "--responses " + csv + " --preferred body --lambda-grid 1e7,1e8,2 "
                              "--top-ooc 1 --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("neuron 'n1': readout flagged"), std::string::npos) << r.output;
  const nlohmann::json n1 = read_json(out / "results.json")["neurons"][0];
  const auto& check = n1["readout_check"];
  EXPECT_TRUE(check["flagged"].get<bool>());
  EXPECT_FALSE(check["maps_are_evidence"].get<bool>());
  EXPECT_TRUE(n1["lambda_at_grid_edge"].get<bool>());
  EXPECT_LT(check["prediction_sd_ratio"].get<double>(), 0.01);
  std::set<std::string> codes;
  for (const auto& f : check["flags"]) {
    codes.insert(f["code"].get<std::string>());
    EXPECT_FALSE(f["reason"].get<std::string>().empty());
    EXPECT_FALSE(f["remedy"].get<std::string>().empty());
  }
  EXPECT_TRUE(codes.count("near_constant_predictions"));
  EXPECT_TRUE(codes.count("lambda_at_upper_edge") || codes.count("lambda_at_lower_edge"));
  EXPECT_FALSE(n1["pairs"][0]["maps_are_evidence"].get<bool>());
  std::ifstream in(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("Readout flagged: its maps are not evidence"), std::string::npos);
  EXPECT_NE(html.find("heatmaps of a flagged readout: not evidence"), std::string::npos);
  // The ooc overlay is not shown beside its image.
  EXPECT_EQ(html.find("<img src=\"" + n1["pairs"][0]["ooc"]["overlay_png"].get<std::string>() + "\""),
            std::string::npos);
  expect_links_exist(out);
}

TEST_F(ExplainCli, RerunReplacesAnEarlierOutput) {
  const fs::path out = dir.path / "again";
  const std::string args = base_args() + "--responses " + csv + " --preferred body --top-ooc 1 --top-dims 0 --out " + out.string();
  ASSERT_EQ(run_cli(args).status, 0);
  std::ofstream(out / "stale.txt") << "old";
  // A killed run's staging folder (its PID no longer running) is removed; a live one's is kept.
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const fs::path stale = dir.path / (".again.tmp-" + std::to_string(dead));
  const fs::path live = dir.path / (".again.tmp-" + std::to_string(getpid()));
  fs::create_directories(stale / "images");
  fs::create_directories(live);
  const CliResult r = run_cli(args + " --colormap gray");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(fs::exists(out / "stale.txt"));
  EXPECT_FALSE(fs::exists(stale)) << "a dead run's staging folder was left";
  EXPECT_TRUE(fs::exists(live)) << "a running process's staging folder was removed";
  fs::remove_all(live);
  EXPECT_EQ(read_json(out / "results.json")["choices"]["colormap"], "gray");
  expect_nothing_written(dir.path / "never");
}

}  // namespace sv::test
