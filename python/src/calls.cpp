#include "calls.h"

#include <nanobind/stl/string.h>

namespace svpy {

void Reporter::report(const std::string& label, int64_t done, int64_t total) const {
  nb::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw nb::python_error();
  if (callback_.is_valid() && !callback_.is_none()) callback_(label, done, total);
}

sv::ProgressFn Reporter::fn(std::string label) const {
  return [this, label = std::move(label)](int64_t done, int64_t total) { report(label, done, total); };
}

sv::ProgressHook Reporter::hook() const {
  return [this](const std::string& label, int64_t done, int64_t total) { report(label, done, total); };
}

}  // namespace svpy
