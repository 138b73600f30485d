// Loading the analysed images and the neurons: recordings from a CSV, or synthetic
// category-selective neurons on an image folder or on Fashion-MNIST.
#include "apps/explain_inputs.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "apps/dataset.h"
#include "apps/io/csv.h"
#include "apps/io/image.h"
#include "apps/method/synthetic.h"
#include "apps/report/progress.h"

namespace sv {

namespace fs = std::filesystem;

namespace {

std::string joined(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= s.size()) {
    const size_t b = std::min(s.find(',', a), s.size());
    std::string item = s.substr(a, b - a);
    const size_t l = item.find_first_not_of(" \t"), r = item.find_last_not_of(" \t");
    if (l != std::string::npos) out.push_back(item.substr(l, r - l + 1));
    a = b + 1;
  }
  return out;
}

// The selected rows of a host batch (N, ...).
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  Shape s = x.shape();
  s[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(s, x.dtype());
  const size_t row = x.dim(0) ? x.nbytes() / static_cast<size_t>(x.dim(0)) : 0;
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(static_cast<char*>(out.raw()) + i * row, static_cast<const char*>(x.raw()) + static_cast<size_t>(rows[i]) * row,
                row);
  return out;
}

// Images with one category each, before the neurons are attached.
struct LabelledSet {
  Tensor x;
  std::vector<ImageInfo> images;
  std::vector<int> labels;           // index into classes
  std::vector<std::string> classes;  // category names
  nlohmann::json description;
};

bool image_extension(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::set<std::string> ok = {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif", ".ppm", ".pgm", ".pnm", ".psd", ".hdr"};
  return ok.count(e) > 0;
}

LabelledSet load_image_folder(const std::string& dir, const ModelInfo& info) {
  std::error_code ec;
  SV_CHECK(fs::is_directory(dir, ec), IoError, "--images " + dir + ": no such folder");
  std::vector<fs::path> subdirs;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && e.path().filename().string()[0] != '.') subdirs.push_back(e.path());
  SV_CHECK(!ec, IoError, "--images " + dir + ": cannot list the folder: " + ec.message());
  std::sort(subdirs.begin(), subdirs.end());
  LabelledSet s;
  std::vector<std::string> paths;
  for (const fs::path& sub : subdirs) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(sub, ec))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.' && image_extension(e.path()))
        files.push_back(e.path());
    if (files.empty()) continue;
    std::sort(files.begin(), files.end());
    s.classes.push_back(sub.filename().string());
    for (const fs::path& f : files) {
      paths.push_back(f.string());
      s.images.push_back({sub.filename().string() + "/" + f.filename().string(), sub.filename().string()});
      s.labels.push_back(static_cast<int>(s.classes.size()) - 1);
    }
  }
  SV_CHECK(!paths.empty(), IoError,
           "--images " + dir + ": no images found (expected one subfolder per category holding image files)");
  s.x = load_images(paths, info);
  s.description = {{"images", dir}, {"categories", s.classes}};
  return s;
}

LabelledSet load_dataset(const ExplainOptions& opt, const Model& m) {
  SV_CHECK(opt.dataset == "fashion-mnist", ValueError, "unknown --dataset '" + opt.dataset + "' (expected fashion-mnist)");
  SV_CHECK(opt.split == "test" || opt.split == "train", ValueError, "--split must be test or train, got " + opt.split);
  SV_CHECK(m.info.in_channels == 1 && m.info.input_size == 28 && m.info.mean.size() == 1, ValueError,
           "--dataset fashion-mnist needs a model that takes 1x28x28 images; " + m.info.arch + " takes " +
               std::to_string(m.info.in_channels) + "x" + std::to_string(m.info.input_size) + "x" +
               std::to_string(m.info.input_size));
  const std::string dir = opt.data_dir.empty() ? kFashionMnistDir : opt.data_dir;
  Dataset d = load_fashion_mnist(dir, opt.split == "train", opt.limit, m.info.mean[0], m.info.std[0]);
  LabelledSet s;
  s.x = d.images;
  s.classes = d.classes;
  const int32_t* lab = d.labels.data<int32_t>();
  for (int64_t i = 0; i < d.size(); ++i) {
    s.labels.push_back(lab[i]);
    s.images.push_back({"fashion-mnist " + opt.split + " #" + std::to_string(i), d.classes[static_cast<size_t>(lab[i])]});
  }
  s.description = {{"dataset", "fashion-mnist"}, {"data_dir", dir}, {"split", opt.split}, {"categories", s.classes}};
  return s;
}

// The model's output classes by name: metadata "classes" (comma-separated), else the data
// set's categories when the model was trained on this data set and has as many outputs.
std::vector<std::string> model_classes(const Model& m, const LabelledSet& s, bool dataset_kind) {
  auto it = m.info.metadata.find("classes");
  if (it != m.info.metadata.end()) return split_commas(it->second);
  if (dataset_kind && m.info.num_classes == static_cast<int>(s.classes.size())) return s.classes;
  return {};
}

ExplainInputs synthetic_neurons(const ExplainOptions& opt, Model& m, Backend& be, const std::string& layer,
                                LabelledSet set, const std::string& kind) {
  SV_CHECK(!opt.synthetic.empty(), ValueError, "--synthetic: give at least one category");
  for (const std::string& c : opt.synthetic)
    SV_CHECK(std::find(set.classes.begin(), set.classes.end(), c) != set.classes.end(), ValueError,
             "--synthetic: no category '" + c + "' in the images (categories: " + joined(set.classes) + ")");
  const std::vector<std::string> mclasses = model_classes(m, set, kind == "dataset");
  bool covered = !mclasses.empty();
  for (const std::string& c : opt.synthetic)
    covered = covered && std::find(mclasses.begin(), mclasses.end(), c) != mclasses.end();
  SyntheticSource src = parse_synthetic_source(opt.synthetic_source);
  if (src == SyntheticSource::Auto) src = covered ? SyntheticSource::Logit : SyntheticSource::Fitted;
  SV_CHECK(src != SyntheticSource::Logit || covered, ValueError,
           "--synthetic-source logit: the model " + m.info.arch + " has no output unit named for every category (" +
               (mclasses.empty() ? std::string("its file has no 'classes' metadata")
                                 : "its classes: " + joined(mclasses)) +
               "); use --synthetic-source fitted");
  SV_CHECK(opt.repeats >= 1, ValueError, "--repeats must be at least 1");

  const auto M = static_cast<int64_t>(opt.synthetic.size());
  const int64_t N = set.x.dim(0);
  std::vector<int64_t> analysed;
  Mat clean;  // (analysed, M)
  nlohmann::json source;
  const int64_t max_batch = std::max<int64_t>(opt.feature_batch, 1);
  if (src == SyntheticSource::Logit) {
    std::vector<int64_t> units;
    for (const std::string& c : opt.synthetic)
      units.push_back(std::find(mclasses.begin(), mclasses.end(), c) - mclasses.begin());
    SV_CHECK(static_cast<int>(mclasses.size()) == m.info.num_classes, ValueError,
             m.info.arch + " has " + std::to_string(m.info.num_classes) + " output units but " +
                 std::to_string(mclasses.size()) + " class names");
    ProgressLine line("responses", "img", opt.progress);
    clean = logit_responses(m, be, layer, set.x, units, max_batch, [&](int64_t d, int64_t n) { line.update(d, n); });
    line.finish();
    analysed.resize(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) analysed[static_cast<size_t>(i)] = i;
    source = {{"source", "logit"}, {"source_layer", output_layer(*m.net)}, {"units", units}};
  } else {
    std::vector<int> targets;
    for (const std::string& c : opt.synthetic)
      targets.push_back(static_cast<int>(std::find(set.classes.begin(), set.classes.end(), c) - set.classes.begin()));
    RidgeOptions ro;
    ro.lambdas = std::isfinite(opt.lambda) ? std::vector<double>{opt.lambda} : log_grid(opt.lambda_lo, opt.lambda_hi, opt.lambda_n);
    ro.folds = opt.folds;
    ro.seed = opt.seed + 1;
    ro.one_se = opt.lambda_rule == "1se";
    ProgressLine line("source", "img", opt.progress);
    FittedSource f = fitted_responses(m, be, layer, set.x, set.labels, targets, ro, opt.seed, max_batch,
                                      [&](int64_t d, int64_t n) { line.update(d, n); });
    line.finish();
    clean = std::move(f.responses);
    analysed = f.analysed;
    source = {{"source", "fitted"},
              {"source_layer", f.layer},
              {"source_pool", "avg"},
              {"fitted_on_images", f.fit_half.size()},
              {"analysed_images", f.analysed.size()},
              {"lambda", f.lambda}};
  }
  source["requested"] = opt.synthetic_source;
  source["noise"] = opt.noise;
  source["repeats"] = opt.repeats;
  source["seed"] = opt.seed;

  ExplainInputs in;
  in.kind = kind;
  in.x = analysed.size() == static_cast<size_t>(N) ? set.x : take_rows(set.x, analysed);
  for (int64_t i : analysed) in.images.push_back(set.images[static_cast<size_t>(i)]);
  for (int64_t j = 0; j < M; ++j) {
    std::mt19937_64 rng(opt.seed * 1000003ULL + static_cast<uint64_t>(j) + 17);
    NeuronInput n;
    n.name = "synthetic " + opt.synthetic[static_cast<size_t>(j)];
    n.preferred = opt.synthetic[static_cast<size_t>(j)];
    n.repeats = noisy_repeats(clean.col(j), opt.noise, opt.repeats, rng);
    in.neurons.push_back(std::move(n));
  }
  in.description = set.description;
  in.description["synthetic"] = source;
  return in;
}

ExplainInputs recorded_neurons(const ExplainOptions& opt, const Model& m) {
  SV_CHECK(!opt.preferred.empty(), ValueError, "--responses needs --preferred LABEL (the neurons' preferred category)");
  const ResponseTable t = read_responses_csv(opt.responses);
  std::vector<std::string> cats(t.categories);
  std::sort(cats.begin(), cats.end());
  cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
  SV_CHECK(std::find(cats.begin(), cats.end(), opt.preferred) != cats.end(), ValueError,
           opt.responses + ": no row has category '" + opt.preferred + "' (--preferred); categories in the file: " +
               joined(cats));
  ExplainInputs in;
  in.kind = "responses";
  in.x = load_images(t.images, m.info);
  for (size_t i = 0; i < t.images.size(); ++i) in.images.push_back({t.image_fields[i], t.categories[i]});
  for (size_t n = 0; n < t.neurons.size(); ++n) in.neurons.push_back({t.neurons[n], opt.preferred, t.repeats[n]});
  in.description = {{"responses", opt.responses}, {"preferred", opt.preferred}, {"categories", cats}};
  return in;
}

}  // namespace

std::string default_layer(const Model& m) {
  auto it = m.info.metadata.find("readout_layer");
  if (it != m.info.metadata.end()) return it->second;
  if (m.info.arch == "fmnist_cnn") return "features";
  return "";
}

ExplainInputs load_inputs(const ExplainOptions& opt, Model& m, Backend& be, const std::string& layer) {
  const int kinds = !opt.responses.empty() + !opt.images.empty() + !opt.dataset.empty();
  SV_CHECK(kinds <= 1, ValueError, "give one input: --responses, --images or --dataset");
  ExplainInputs in;
  if (!opt.responses.empty()) {
    SV_CHECK(opt.synthetic.empty(), ValueError, "--synthetic does not apply to --responses (the neurons are recorded)");
    in = recorded_neurons(opt, m);
  } else if (!opt.images.empty()) {
    SV_CHECK(!opt.synthetic.empty(), ValueError, "--images needs --synthetic LABEL[,LABEL...] (the neurons to simulate)");
    in = synthetic_neurons(opt, m, be, layer, load_image_folder(opt.images, m.info), "images");
  } else {
    SV_CHECK(!opt.dataset.empty(), ValueError, "no input: give --responses, --images or --dataset");
    in = synthetic_neurons(opt, m, be, layer, load_dataset(opt, m), "dataset");
  }
  in.description["kind"] = in.kind;
  in.description["n_images"] = in.images.size();
  return in;
}

}  // namespace sv
