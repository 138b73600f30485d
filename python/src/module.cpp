// sharedvis._core: the engine for the Python package sharedvis (python/sharedvis/). The
// public API, its argument checks, progress bars and docstrings are in the Python layer;
// this module holds the calls into the engine.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "apps/io/npy.h"
#include "arrays.h"
#include "errors.h"
#include "weights/model.h"

namespace svpy {

void bind_model(nb::module_& mod);
void bind_explain(nb::module_& mod);

}  // namespace svpy

NB_MODULE(_core, mod) {
  namespace nb = nanobind;
  svpy::register_error_translation();
  svpy::bind_model(mod);
  svpy::bind_explain(mod);
  // A model file with the portable pseudo-random weights (sv::init_portable), for tests and
  // examples without downloads: the same file `make_model` + `init_portable` + `save_model` give.
  mod.def(
      "save_portable_model",
      [](const std::string& path, const std::string& arch, int num_classes, int in_channels, int input_size,
         int resize_size, uint64_t seed) {
        sv::ModelInfo info;
        info.arch = arch;
        info.num_classes = num_classes;
        info.in_channels = in_channels;
        info.input_size = input_size;
        info.resize_size = resize_size;
        nb::gil_scoped_release nogil;
        sv::Model m = sv::make_model(info);
        sv::init_portable(*m.net, seed);
        sv::save_model(m, path);
      },
      nb::arg("path"), nb::arg("arch"), nb::arg("num_classes"), nb::arg("in_channels"), nb::arg("input_size"),
      nb::arg("resize_size"), nb::arg("seed"));
  mod.def("read_npy", [](const std::string& path) {
    sv::Tensor t;
    {
      nb::gil_scoped_release nogil;
      t = sv::read_npy(path);
    }
    return svpy::to_numpy(t);
  });
}
