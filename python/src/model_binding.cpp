// sharedvis._core.Model: a model file loaded onto a backend, and the research primitives of
// apps/primitives.h on numpy arrays (the same functions as `sharedvis features|vjp|ig|
// jacobian`). Arguments were checked by the Python layer (sharedvis/_model.py), which
// names them in its errors; the engine checks again and its errors become Python
// exceptions (errors.h). Every computation runs with the GIL released, one at a time per
// model (a backend's caches are not shared between threads).
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <mutex>

#include "apps/cli_common.h"
#include "apps/io/image.h"
#include "apps/io/input_file.h"
#include "apps/shape_probe.h"
#include "arrays.h"
#include "backends/factory.h"
#include "calls.h"

namespace svpy {

namespace {

struct PyModel {
  std::string path;
  std::unique_ptr<sv::Backend> backend;
  sv::Model model;
  std::mutex busy;  // one computation at a time
};

std::unique_ptr<PyModel> load(const std::string& path, const std::string& device) {
  auto m = std::make_unique<PyModel>();
  m->path = path;
  sv::check_input_file(path);  // a missing file is named as such (FileNotFoundError), before the device
  nb::gil_scoped_release nogil;
  m->backend = sv::make_backend(device);
  m->model = sv::load_model(path);
  sv::model_to(m->model, *m->backend);
  return m;
}

nb::dict info(const PyModel& m) {
  const sv::ModelInfo& i = m.model.info;
  nb::dict d, md;
  d["arch"] = i.arch;
  d["in_channels"] = i.in_channels;
  d["input_size"] = i.input_size;
  d["resize_size"] = i.resize_size;
  d["mean"] = nb::cast(i.mean);
  d["std"] = nb::cast(i.std);
  d["num_classes"] = i.num_classes;
  for (const auto& [k, v] : i.metadata) md[k.c_str()] = v;
  d["metadata"] = md;
  return d;
}

// (name, output shape for one input or None when the forward pass does not reach it).
nb::list layers(PyModel& m) {
  std::vector<sv::LayerShape> shapes;
  {
    nb::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(m.busy);
    const sv::ModelInfo& i = m.model.info;
    shapes = sv::layer_output_shapes(m.model, {1, i.in_channels, i.input_size, i.input_size});
  }
  nb::list out;
  for (const sv::LayerShape& l : shapes) {
    nb::object shape = nb::none();
    if (!l.shape.empty()) {
      nb::list dims;
      for (int64_t d : l.shape) dims.append(d);
      shape = nb::tuple(dims);
    }
    out.append(nb::make_tuple(l.name, shape));
  }
  return out;
}

OutArray preprocess_paths(PyModel& m, const std::vector<std::string>& paths) {
  sv::Tensor x;
  {
    nb::gil_scoped_release nogil;
    x = sv::load_images(paths, m.model.info);
  }
  return to_numpy(x);
}

// uint8 pixels (H, W) or (H, W, C) with C = 1 or 3, as read_image decodes a file: v / 255.
OutArray preprocess_arrays(PyModel& m, const std::vector<nb::ndarray<nb::ro, uint8_t, nb::c_contig, nb::device::cpu>>& images) {
  std::vector<sv::Image> decoded;
  for (size_t n = 0; n < images.size(); ++n) {
    const auto& a = images[n];
    const int c = a.ndim() == 2 ? 1 : static_cast<int>(a.shape(2));
    SV_CHECK((a.ndim() == 2 || a.ndim() == 3) && (c == 1 || c == 3) && a.shape(0) > 0 && a.shape(1) > 0,
             sv::ValueError, "images[" + std::to_string(n) + "]: expected uint8 (H, W), (H, W, 1) or (H, W, 3)");
    sv::Image img;
    img.height = static_cast<int>(a.shape(0));
    img.width = static_cast<int>(a.shape(1));
    img.channels = c;
    img.pixels.resize(a.size());
    for (size_t i = 0; i < a.size(); ++i) img.pixels[i] = a.data()[i] / 255.0f;
    decoded.push_back(std::move(img));
  }
  sv::Tensor batch;
  {
    nb::gil_scoped_release nogil;
    const sv::ModelInfo& info = m.model.info;
    const int S = info.input_size;
    batch = sv::Tensor::empty({static_cast<int64_t>(decoded.size()), info.in_channels, S, S});
    const size_t per = static_cast<size_t>(info.in_channels) * S * S;
    for (size_t i = 0; i < decoded.size(); ++i) {
      sv::Tensor t;
      try {
        t = sv::preprocess(decoded[i], info);
      } catch (const sv::ValueError& e) {
        throw sv::ValueError("images[" + std::to_string(i) + "]: " + e.what());
      }
      std::memcpy(batch.data<float>() + i * per, t.data<float>(), per * sizeof(float));
    }
  }
  return to_numpy(batch);
}

// Runs f(model, backend) without the GIL, holding the model.
template <class F> sv::Tensor compute(PyModel& m, F&& f) {
  nb::gil_scoped_release nogil;
  std::lock_guard<std::mutex> lock(m.busy);
  return f(m.model, *m.backend);
}

OutArray features(PyModel& m, const InArray& x, const std::string& layer, const std::string& pool, int64_t max_batch,
                  nb::object progress) {
  const sv::Tensor tx = tensor_from(x, "x");
  const sv::Pool p = sv::parse_pool(pool);
  const Reporter r(std::move(progress));
  return to_numpy(compute(m, [&](sv::Model& mm, sv::Backend& be) {
    return sv::features(mm, be, layer, p, tx, max_batch, r.fn("features"));
  }));
}

OutArray vjp(PyModel& m, const InArray& x, const InArray& G, const std::string& layer, const std::string& pool,
             int64_t max_batch, nb::object progress) {
  const sv::Tensor tx = tensor_from(x, "x"), tg = tensor_from(G, "cotangents");
  const sv::Pool p = sv::parse_pool(pool);
  const Reporter r(std::move(progress));
  return to_numpy(compute(m, [&](sv::Model& mm, sv::Backend& be) {
    return sv::vjp(mm, be, layer, p, tx, tg, max_batch, r.fn("vjp"));
  }));
}

OutArray jacobian(PyModel& m, const InArray& x, const std::string& layer, const std::vector<int64_t>& dims,
                  const std::string& pool, int64_t max_batch, nb::object progress) {
  const sv::Tensor tx = tensor_from(x, "x");
  const sv::Pool p = sv::parse_pool(pool);
  const Reporter r(std::move(progress));
  return to_numpy(compute(m, [&](sv::Model& mm, sv::Backend& be) {
    return sv::jacobian(mm, be, layer, p, tx, dims, max_batch, r.fn("jacobian"));
  }));
}

// (S, gap): S as integrated_gradients returns it, gap K-major (K·N,) as ig_completeness_gap.
// baseline: a name of make_baseline (or an .npy path), or an array of x's shape.
std::pair<OutArray, std::vector<double>> integrated_gradients(PyModel& m, const InArray& x, const InArray& G,
                                                              const std::string& layer, const std::string& pool,
                                                              int steps, nb::object baseline, const std::string& rule,
                                                              int64_t max_batch, nb::object progress) {
  const sv::Tensor tx = tensor_from(x, "x"), tg = tensor_from(G, "cotangents");
  const sv::Pool p = sv::parse_pool(pool);
  const sv::IgRule ig_rule = sv::parse_ig_rule(rule);
  std::vector<double> t, w;
  sv::quadrature(ig_rule, steps, t, w);  // validates steps for the rule before any work
  sv::Tensor tb;
  std::string baseline_name;
  if (nb::isinstance<nb::str>(baseline))
    baseline_name = nb::cast<std::string>(baseline);
  else
    tb = tensor_from(nb::cast<InArray>(baseline), "baseline");
  const Reporter r(std::move(progress));
  std::vector<double> gap;
  sv::Tensor S = compute(m, [&](sv::Model& mm, sv::Backend& be) {
    if (!tb.defined()) tb = sv::make_baseline(baseline_name, tx, mm.info);
    SV_CHECK(tb.shape() == tx.shape(), sv::ShapeError,
             "baseline has shape " + sv::shape_str(tb.shape()) + ", x has " + sv::shape_str(tx.shape()));
    sv::Tensor s = sv::integrated_gradients(mm, be, layer, p, tx, tg, tb, steps, ig_rule, max_batch, r.fn("ig"));
    const sv::Tensor fx = sv::features(mm, be, layer, p, tx, max_batch);
    const sv::Tensor fb = sv::features(mm, be, layer, p, tb, max_batch);
    gap = sv::ig_completeness_gap(s, tg, fx, fb);
    return s;
  });
  return {to_numpy(S), gap};
}

}  // namespace

void bind_model(nb::module_& mod) {
  using namespace nb::literals;
  nb::class_<PyModel>(mod, "Model")
      .def_ro("path", &PyModel::path)
      .def_prop_ro("device", [](const PyModel& m) { return m.backend->name(); })
      .def("info", &info)
      .def("layers", &layers)
      .def("preprocess_paths", &preprocess_paths)
      .def("preprocess_arrays", &preprocess_arrays)
      .def("features", &features, "x"_a, "layer"_a, "pool"_a, "max_batch"_a, "progress"_a.none())
      .def("vjp", &vjp, "x"_a, "G"_a, "layer"_a, "pool"_a, "max_batch"_a, "progress"_a.none())
      .def("jacobian", &jacobian, "x"_a, "layer"_a, "dims"_a, "pool"_a, "max_batch"_a, "progress"_a.none())
      .def("integrated_gradients", &integrated_gradients, "x"_a, "G"_a, "layer"_a, "pool"_a, "steps"_a,
           "baseline"_a, "rule"_a, "max_batch"_a, "progress"_a.none());
  mod.def("load_model", &load, nb::arg("path"), nb::arg("device"));
}

}  // namespace svpy
