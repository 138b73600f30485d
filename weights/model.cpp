// Model files: safetensors + __metadata__ (weights/README.md). Loading checks the metadata,
// then that the file holds exactly the architecture's tensors with the architecture's
// shapes, before it reads any tensor data.
#include "weights/model.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "weights/models/archs.h"
#include "weights/safetensors.h"

namespace sv {

namespace {

std::string joined(const std::vector<std::string>& v, size_t max_items = 0) {
  std::string s;
  size_t n = max_items ? std::min(max_items, v.size()) : v.size();
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + v[i];
  if (n < v.size()) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool parse_int(const std::string& text, int& out) {
  std::string t = trim(text);
  auto r = std::from_chars(t.data(), t.data() + t.size(), out);
  return r.ec == std::errc() && r.ptr == t.data() + t.size();
}

bool parse_floats(const std::string& text, std::vector<float>& out) {
  out.clear();
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string t = trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    float v = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size()) return false;
    out.push_back(v);
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

std::string format_floats(const std::vector<float>& v) {
  std::string s;
  for (float x : v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, x);  // shortest text that reads back exactly
    if (!s.empty()) s += ',';
    s.append(buf, r.ptr);
  }
  return s;
}

bool ignored_key(const std::string& name) {
  const std::string suffix = "num_batches_tracked";  // torch's batchnorm counter: not a weight
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ModelInfo from the metadata; in_channels and num_classes fall back to the shapes of the
// architecture's first and last weights.
ModelInfo parse_info(const SafetensorsReader& f, const ArchEntry*& entry) {
  const std::string& path = f.path();
  const StMetadata& md = f.metadata();
  auto fail = [&](const std::string& what) { throw IoError(path + ": " + what); };
  ModelInfo info;
  info.metadata = md;
  auto arch = md.find("arch");
  if (arch == md.end()) fail("__metadata__ has no 'arch' (the architecture name, e.g. resnet50)");
  info.arch = arch->second;
  entry = find_arch(info.arch);
  if (!entry) fail("unknown architecture '" + info.arch + "'; known: " + joined(known_archs()));

  auto get_int = [&](const char* key, int& out) {
    auto it = md.find(key);
    if (it == md.end()) return false;
    if (!parse_int(it->second, out) || out <= 0)
      fail(std::string("__metadata__ '") + key + "' = '" + it->second + "' is not a positive integer");
    return true;
  };
  auto dim_of = [&](const char* tensor, size_t d, int& out) {  // a plausible size, else the shape check reports it
    const StEntry* e = f.find(tensor);
    if (e && e->shape.size() > d && e->shape[d] > 0 && e->shape[d] <= (1 << 24)) out = static_cast<int>(e->shape[d]);
  };
  if (!get_int("in_channels", info.in_channels)) dim_of(entry->input_conv, 1, info.in_channels);
  if (!get_int("num_classes", info.num_classes)) dim_of(entry->classifier, 0, info.num_classes);
  get_int("input_size", info.input_size);
  get_int("resize_size", info.resize_size);
  // Bounded so that an image's eval transform has a bounded cost (resize buffers are
  // O(resize_size^2)); torchvision's models use 224-600.
  for (auto [key, v] : {std::pair{"input_size", info.input_size}, std::pair{"resize_size", info.resize_size}})
    if (v > kMaxImageSide)
      fail(std::string("__metadata__ '") + key + "' = " + std::to_string(v) + " is larger than " +
           std::to_string(kMaxImageSide) + " pixels");

  if (info.in_channels != 3) {  // ImageNet statistics do not apply: identity normalization
    info.mean.assign(info.in_channels, 0.0f);
    info.std.assign(info.in_channels, 1.0f);
  }
  for (auto [key, vec] : {std::pair{"mean", &info.mean}, std::pair{"std", &info.std}}) {
    auto it = md.find(key);
    if (it == md.end()) continue;
    if (!parse_floats(it->second, *vec))
      fail(std::string("__metadata__ '") + key + "' = '" + it->second + "' is not a comma-separated list of numbers");
    if (static_cast<int>(vec->size()) != info.in_channels)
      fail(std::string("__metadata__ '") + key + "' has " + std::to_string(vec->size()) + " values for " +
           std::to_string(info.in_channels) + " input channels");
  }
  // Finite and of a plausible scale: inputs are divided by std, so a tiny one turns pixels
  // into infinities and a NaN turns every feature into NaN.
  for (float v : info.mean)
    if (!(std::abs(v) <= 1e3f)) fail("__metadata__ 'mean' value " + std::to_string(v) + " is not finite or above 1e3 in magnitude");
  for (float s : info.std)
    if (!(s >= 1e-6f && s <= 1e3f))
      fail("__metadata__ 'std' value " + std::to_string(s) + " is not in [1e-6, 1e3] (it must be a finite positive scale)");
  if (auto it = md.find("classes"); it != md.end()) {
    const size_t names = static_cast<size_t>(std::count(it->second.begin(), it->second.end(), ',')) + 1;
    if (names != static_cast<size_t>(info.num_classes))
      fail("__metadata__ 'classes' names " + std::to_string(names) + " classes, the model has num_classes " +
           std::to_string(info.num_classes));
  }
  return info;
}

// make_model allocates the network that in_channels and num_classes size. Before that, the
// file's own first and last weights must agree with them, which bounds the allocation by
// the file's size (a 60-byte file with in_channels = 20000000 asked for 23 GB).
void check_sizes_in_file(const SafetensorsReader& f, const ArchEntry& entry, const ModelInfo& info) {
  struct Size {
    const char* tensor;
    size_t dim;
    int value;
    const char* key;
  };
  for (const Size& s : {Size{entry.input_conv, 1, info.in_channels, "in_channels"},
                        Size{entry.classifier, 0, info.num_classes, "num_classes"}}) {
    const std::string where = f.path() + ": tensor '" + s.tensor + "'";
    const StEntry* e = f.find(s.tensor);
    if (!e) throw IoError(f.path() + ": missing tensor '" + s.tensor + "' for architecture " + info.arch);
    if (e->shape.size() <= s.dim)
      throw IoError(where + " has shape " + shape_str(e->shape) + ", too few dimensions for architecture " + info.arch);
    if (e->shape[s.dim] == s.value) continue;
    Shape expects = e->shape;
    expects[s.dim] = s.value;
    throw IoError(where + " has shape " + shape_str(e->shape) + ", " + s.key + " " + std::to_string(s.value) +
                  " expects " + shape_str(expects));
  }
}

}  // namespace

std::vector<std::string> Model::layers() const { return net->layer_names(); }

void Model::check_layer(const std::string& layer) const {
  std::vector<std::string> names = layers();
  for (const std::string& n : names)
    if (n == layer) return;
  throw ValueError("unknown layer '" + layer + "' for " + info.arch + "; valid layers: " + joined(names));
}

Model make_model(ModelInfo info) {
  Model m;
  m.net = build_arch(info.arch, info.num_classes, info.in_channels);
  m.info = std::move(info);
  return m;
}

Model load_model(const std::string& path) {
  SafetensorsReader f(path);
  const ArchEntry* entry = nullptr;
  ModelInfo info = parse_info(f, entry);
  check_sizes_in_file(f, *entry, info);
  auto fail = [&](const std::string& what) { throw IoError(path + ": " + what); };
  Model m;
  try {
    m = make_model(std::move(info));
  } catch (const ValueError& e) {
    fail(e.what());
  }
  const std::string arch = m.info.arch;

  // names: nothing unexpected, nothing missing
  std::vector<std::pair<std::string, Param*>> state = m.net->state();
  std::set<std::string> wanted;
  for (auto& [name, p] : state) wanted.insert(name);
  std::vector<std::string> unexpected, missing;
  for (const StEntry& e : f.entries())
    if (!wanted.count(e.name) && !ignored_key(e.name)) unexpected.push_back(e.name);
  for (auto& [name, p] : state)
    if (!f.find(name)) missing.push_back(name);
  if (!unexpected.empty())
    fail("unexpected tensor '" + unexpected[0] + "' for architecture " + arch + " (unexpected: " + joined(unexpected, 8) + ")");
  if (!missing.empty())
    fail("missing tensor '" + missing[0] + "' for architecture " + arch + " (missing: " + joined(missing, 8) + ")");

  // shapes, then data
  for (auto& [name, p] : state) {
    const StEntry* e = f.find(name);
    if (e->shape != p->value.shape())
      fail("tensor '" + name + "' has shape " + shape_str(e->shape) + ", architecture " + arch + " (num_classes " +
           std::to_string(m.info.num_classes) + ", in_channels " + std::to_string(m.info.in_channels) + ") expects " +
           shape_str(p->value.shape()));
  }
  for (auto& [name, p] : state) {
    p->value = f.read(*f.find(name));
    p->grad = Tensor();
    if (const int64_t i = first_nonfinite(p->value); i >= 0)
      fail("tensor '" + name + "' holds a non-finite value (" + std::to_string(p->value.item(i)) + " at flat index " +
           std::to_string(i) + ")");
    if (name.ends_with("running_var"))
      for (int64_t c = 0; c < p->value.numel(); ++c)
        if (p->value.item(c) < 0)
          fail("tensor '" + name + "' holds a negative variance (" + std::to_string(p->value.item(c)) + " at channel " +
               std::to_string(c) + ")");
  }
  m.net->invalidate_tree();
  return m;
}

void save_model(const Model& m, const std::string& path) {
  SV_CHECK(m.net != nullptr, ValueError, "save_model " + path + ": the model has no network");
  const ModelInfo& i = m.info;
  StMetadata md = i.metadata;
  md["arch"] = i.arch;
  md["in_channels"] = std::to_string(i.in_channels);
  md["num_classes"] = std::to_string(i.num_classes);
  md["input_size"] = std::to_string(i.input_size);
  md["resize_size"] = std::to_string(i.resize_size);
  md["mean"] = format_floats(i.mean);
  md["std"] = format_floats(i.std);
  NamedTensors tensors;
  for (auto& [name, p] : m.net->state()) {
    SV_CHECK(p->value.defined() && p->value.is_cpu(), ValueError,
             "save_model " + path + ": tensor '" + name + "' is not on the host (move the model to the CPU first)");
    tensors.emplace_back(name, p->value.to(DType::F32));
  }
  write_safetensors(path, tensors, md);
}

}  // namespace sv
