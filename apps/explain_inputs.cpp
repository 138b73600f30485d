// Loading the analysed images and the neurons: recordings from a CSV, or synthetic
// category-selective neurons on an image folder or on Fashion-MNIST.
#include "apps/explain_inputs.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>

#include "apps/dataset.h"
#include "apps/io/csv.h"
#include "apps/io/image.h"
#include "apps/method/synthetic.h"
#include "apps/report/progress.h"
#include "apps/text_fields.h"

namespace sv {

namespace fs = std::filesystem;

namespace {

std::string joined(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// The selected rows of a host batch (N, ...).
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  Shape s = x.shape();
  s[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(s, x.dtype());
  const size_t row = x.dim(0) ? x.nbytes() / static_cast<size_t>(x.dim(0)) : 0;
  for (int64_t r : rows)
    SV_CHECK(0 <= r && r < x.dim(0), ValueError, "image " + std::to_string(r) + " of " + std::to_string(x.dim(0)));
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(static_cast<char*>(out.raw()) + i * row, static_cast<const char*>(x.raw()) + static_cast<size_t>(rows[i]) * row,
                row);
  return out;
}

// Images with one category each, before the neurons are attached.
struct LabelledSet {
  Tensor x;
  int64_t x_first = 0;
  PixelRows pixels;
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

// The rows to decode of n images: all, or rows(n) (possibly none), checked.
std::pair<int64_t, int64_t> decode_range(const ImageRows& rows, int64_t n) {
  if (!rows) return {0, n};
  const auto r = rows(n);
  SV_CHECK(0 <= r.first && r.first <= r.second && r.second <= n, ValueError,
           "images " + std::to_string(r.first) + ".." + std::to_string(r.second) + " of " + std::to_string(n));
  return r;
}

// The files paths[rows], decoded when called; holds the paths only.
PixelRows file_pixels(std::vector<std::string> paths, const ModelInfo& info) {
  return [paths = std::move(paths), info](const std::vector<int64_t>& rows) {
    std::vector<std::string> some;
    some.reserve(rows.size());
    for (int64_t r : rows) some.push_back(paths.at(static_cast<size_t>(r)));
    return load_images(some, info);
  };
}

// The rows [first, last) of pixels (undefined when empty).
Tensor decode_rows(const PixelRows& pixels, std::pair<int64_t, int64_t> r) {
  if (r.first == r.second) return Tensor();
  std::vector<int64_t> rows(static_cast<size_t>(r.second - r.first));
  std::iota(rows.begin(), rows.end(), r.first);
  return pixels(rows);
}

LabelledSet load_image_folder(const std::string& dir, const ModelInfo& info, const ImageRows& rows) {
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
  const auto r = decode_range(rows, static_cast<int64_t>(paths.size()));
  s.pixels = file_pixels(std::move(paths), info);
  s.x = decode_rows(s.pixels, r);
  s.x_first = r.first;
  s.description = {{"images", dir}, {"categories", s.classes}};
  return s;
}

LabelledSet load_dataset(const InputConfig& in, const Model& m, const ImageRows& rows) {
  SV_CHECK(m.info.in_channels == 1 && m.info.input_size == 28 && m.info.mean.size() == 1, ValueError,
           "--dataset fashion-mnist needs a model that takes 1x28x28 images; " + m.info.arch + " takes " +
               std::to_string(m.info.in_channels) + "x" + std::to_string(m.info.input_size) + "x" +
               std::to_string(m.info.input_size));
  const std::string dir = in.data_dir.empty() ? kFashionMnistDir : in.data_dir;
  const std::string split = enum_name(kSplitNames, in.split);
  Dataset d = load_fashion_mnist(dir, in.split == Split::Train, in.limit, m.info.mean[0], m.info.std[0]);
  LabelledSet s;
  const auto r = decode_range(rows, d.size());
  s.x = !rows ? d.images : r.first < r.second ? d.images.slice0(r.first, r.second) : Tensor();
  s.x_first = r.first;
  // The IDX file is read whole (28x28 images: 60,000 are 188 MB as float32).
  s.pixels = [images = d.images](const std::vector<int64_t>& rows) { return take_rows(images, rows); };
  s.classes = d.classes;
  const int32_t* lab = d.labels.data<int32_t>();
  for (int64_t i = 0; i < d.size(); ++i) {
    s.labels.push_back(lab[i]);
    s.images.push_back({"fashion-mnist " + split + " #" + std::to_string(i), d.classes[static_cast<size_t>(lab[i])]});
  }
  s.description = {{"dataset", "fashion-mnist"}, {"data_dir", dir}, {"split", split}, {"categories", s.classes}};
  return s;
}

// The model's output classes by name: metadata "classes" (comma-separated), else the data
// set's categories when the model was trained on this data set and has as many outputs.
std::vector<std::string> model_classes(const Model& m, const LabelledSet& s, bool dataset_kind) {
  auto it = m.info.metadata.find("classes");
  if (it != m.info.metadata.end()) return split_nonempty(it->second);
  if (dataset_kind && m.info.num_classes == static_cast<int>(s.classes.size())) return s.classes;
  return {};
}

ImageSet recorded_set(const InputConfig& in, const Model& m, const ImageRows& rows) {
  const ResponseTable t = read_responses_csv(in.responses);
  std::vector<std::string> cats(t.categories);
  std::sort(cats.begin(), cats.end());
  cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
  SV_CHECK(std::find(cats.begin(), cats.end(), in.preferred) != cats.end(), ValueError,
           in.responses + ": no row has category '" + in.preferred + "' (--preferred); categories in the file: " +
               joined(cats));
  ImageSet set;
  set.kind = InputKind::Responses;
  const auto r = decode_range(rows, static_cast<int64_t>(t.images.size()));
  set.pixels = file_pixels(t.images, m.info);
  set.x = decode_rows(set.pixels, r);
  set.x_first = r.first;
  for (size_t i = 0; i < t.images.size(); ++i) set.images.push_back({t.image_fields[i], t.categories[i]});
  for (size_t n = 0; n < t.neurons.size(); ++n) set.recorded.push_back({t.neurons[n], in.preferred, t.repeats[n]});
  set.description = {{"responses", in.responses}, {"preferred", in.preferred}, {"categories", cats}};
  return set;
}

// The analysed images' pixels: rows of x when it is decoded, else the set's images
// set_rows[rows] decoded when called.
PixelRows analysed_pixels(const Tensor& x, const PixelRows& set_pixels, const std::vector<int64_t>& set_rows) {
  if (x.defined()) return [x](const std::vector<int64_t>& rows) { return take_rows(x, rows); };
  return [set_pixels, set_rows](const std::vector<int64_t>& rows) {
    std::vector<int64_t> in_set;
    in_set.reserve(rows.size());
    for (int64_t r : rows) in_set.push_back(set_rows.at(static_cast<size_t>(r)));
    return set_pixels(in_set);
  };
}

ImageSet labelled_set(LabelledSet s, InputKind kind) {
  ImageSet set;
  set.kind = kind;
  set.x = std::move(s.x);
  set.x_first = s.x_first;
  set.pixels = std::move(s.pixels);
  set.images = std::move(s.images);
  set.labels = std::move(s.labels);
  set.classes = std::move(s.classes);
  set.description = std::move(s.description);
  return set;
}

}  // namespace

std::string default_layer(const Model& m) {
  auto it = m.info.metadata.find("readout_layer");
  if (it != m.info.metadata.end()) return it->second;
  if (m.info.arch == "fmnist_cnn") return "features";
  return "";
}

ImageSet load_image_set(const InputConfig& in, const Model& m, const ImageRows& rows) {
  switch (in.kind) {
    case InputKind::Responses: return recorded_set(in, m, rows);
    case InputKind::Images: return labelled_set(load_image_folder(in.images, m.info, rows), InputKind::Images);
    case InputKind::Dataset: return labelled_set(load_dataset(in, m, rows), InputKind::Dataset);
  }
  throw ValueError("no input: give --responses, --images or --dataset");
}

SourcePlan source_plan(const InputConfig& in, const Model& m, const std::string& layer, const ImageSet& set) {
  SourcePlan plan;
  if (set.kind == InputKind::Responses) return plan;
  plan.needed = true;
  for (const std::string& c : in.synthetic)
    SV_CHECK(std::find(set.classes.begin(), set.classes.end(), c) != set.classes.end(), ValueError,
             "--synthetic: no category '" + c + "' in the images (categories: " + joined(set.classes) + ")");
  LabelledSet view;
  view.classes = set.classes;
  const std::vector<std::string> mclasses = model_classes(m, view, set.kind == InputKind::Dataset);
  bool covered = !mclasses.empty();
  for (const std::string& c : in.synthetic)
    covered = covered && std::find(mclasses.begin(), mclasses.end(), c) != mclasses.end();
  plan.source = in.source;
  if (plan.source == SyntheticSource::Auto) plan.source = covered ? SyntheticSource::Logit : SyntheticSource::Fitted;
  SV_CHECK(plan.source != SyntheticSource::Logit || covered, ValueError,
           "--synthetic-source logit: the model " + m.info.arch + " has no output unit named for every category (" +
               (mclasses.empty() ? std::string("its file has no 'classes' metadata")
                                 : "its classes: " + joined(mclasses)) +
               "); use --synthetic-source fitted");
  if (plan.source == SyntheticSource::Logit) {
    for (const std::string& c : in.synthetic)
      plan.units.push_back(std::find(mclasses.begin(), mclasses.end(), c) - mclasses.begin());
    SV_CHECK(static_cast<int>(mclasses.size()) == m.info.num_classes, ValueError,
             m.info.arch + " has " + std::to_string(m.info.num_classes) + " output units but " +
                 std::to_string(mclasses.size()) + " class names");
    plan.layer = {output_layer(*m.net), Pool::None};
    check_layer_precedes(*m.net, layer, plan.layer.layer, "the model's output units");
  } else {
    for (const std::string& c : in.synthetic)
      plan.targets.push_back(static_cast<int>(std::find(set.classes.begin(), set.classes.end(), c) - set.classes.begin()));
    plan.layer = {last_feature_layer(*m.net), Pool::Avg};
    check_layer_precedes(*m.net, layer, plan.layer.layer, "the model's last feature layer");
  }
  return plan;
}

Analysed make_neurons(const ExplainConfig& c, ImageSet set, const Tensor& phi, const Tensor& source,
                      const SourcePlan& plan) {
  Analysed a;
  const auto N = static_cast<int64_t>(set.images.size());
  const bool decoded = set.x.defined();
  SV_CHECK(!decoded || (set.x_first == 0 && set.x.dim(0) == N), ValueError,
           "make_neurons: needs every image decoded or none, got images " + std::to_string(set.x_first) + ".." +
               std::to_string(set.x_first + set.x.dim(0)) + " of " + std::to_string(N));
  if (!plan.needed) {
    a.rows.resize(static_cast<size_t>(N));
    std::iota(a.rows.begin(), a.rows.end(), 0);
    a.x = std::move(set.x);
    a.pixels = analysed_pixels(a.x, set.pixels, a.rows);
    a.images = std::move(set.images);
    a.phi = mat_from_tensor(phi);
    a.neurons = std::move(set.recorded);
    a.description = std::move(set.description);
    a.description["kind"] = enum_name(kInputKindNames, set.kind);
    a.description["n_images"] = a.images.size();
    return a;
  }
  const InputConfig& in = c.input;
  const auto M = static_cast<int64_t>(in.synthetic.size());
  Mat clean;  // (analysed, M)
  nlohmann::json src;
  if (plan.source == SyntheticSource::Logit) {
    clean = logit_responses(mat_from_tensor(source), plan.layer.layer, plan.units);
    a.rows.resize(static_cast<size_t>(N));
    std::iota(a.rows.begin(), a.rows.end(), 0);
    src = {{"source", "logit"}, {"source_layer", plan.layer.layer}, {"units", plan.units}};
  } else {
    RidgeOptions ro;
    ro.lambdas = c.readout.lambdas;
    ro.folds = c.readout.folds;
    ro.seed = c.readout.seed + 1;
    ro.one_se = c.readout.rule == LambdaRule::OneSe;
    FittedSource f = fitted_responses(mat_from_tensor(source), plan.layer.layer, set.labels, plan.targets, ro, c.readout.seed);
    clean = std::move(f.responses);
    a.rows = f.analysed;
    src = {{"source", "fitted"},
           {"source_layer", f.layer},
           {"source_pool", "avg"},
           {"fitted_on_images", f.fit_half.size()},
           {"analysed_images", f.analysed.size()},
           {"lambda", f.lambda}};
  }
  src["requested"] = synthetic_source_name(in.source);
  src["noise"] = in.noise;
  src["repeats"] = in.repeats;
  src["seed"] = c.readout.seed;
  const bool all = a.rows.size() == static_cast<size_t>(N);
  if (decoded) a.x = all ? set.x : take_rows(set.x, a.rows);
  a.pixels = analysed_pixels(a.x, set.pixels, a.rows);
  a.phi = mat_from_tensor(all ? phi : take_rows(phi, a.rows));
  for (int64_t i : a.rows) a.images.push_back(set.images[static_cast<size_t>(i)]);
  for (int64_t j = 0; j < M; ++j) {
    std::mt19937_64 rng(c.readout.seed * 1000003ULL + static_cast<uint64_t>(j) + 17);
    NeuronInput n;
    n.name = "synthetic " + in.synthetic[static_cast<size_t>(j)];
    n.preferred = in.synthetic[static_cast<size_t>(j)];
    n.repeats = noisy_repeats(clean.col(j), in.noise, in.repeats, rng);
    a.neurons.push_back(std::move(n));
  }
  a.description = std::move(set.description);
  a.description["synthetic"] = src;
  a.description["kind"] = enum_name(kInputKindNames, set.kind);
  a.description["n_images"] = a.images.size();
  return a;
}

}  // namespace sv
