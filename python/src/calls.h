// A call from Python into the engine: the GIL is released for its duration (another Python
// thread runs meanwhile), and at every progress report of the engine the computing thread
// takes the GIL back for a moment to check for Ctrl-C (PyErr_CheckSignals) and to pass the
// report to the Python callback that draws the bar. A pending signal or an exception of
// the callback is thrown as nb::python_error: it unwinds the computation (RAII frees its
// memory; atomic outputs remove their temporary files) and reaches Python as itself
// (KeyboardInterrupt).
#pragma once
#include <nanobind/nanobind.h>

#include <cstdint>
#include <string>

#include "apps/primitives.h"
#include "apps/report/progress.h"

namespace svpy {

namespace nb = nanobind;

class Reporter {
 public:
  // callback(label: str, done: int, total: int), or None. Constructed with the GIL held.
  explicit Reporter(nb::object callback) : callback_(std::move(callback)) {}
  // On the computing thread, without the GIL.
  void report(const std::string& label, int64_t done, int64_t total) const;
  // The engine's callback types, bound to this reporter.
  sv::ProgressFn fn(std::string label) const;
  sv::ProgressHook hook() const;

 private:
  nb::object callback_;
};

// Sets `hook` as this thread's ProgressLine hook (apps/report/progress.h) for its lifetime.
class ScopedProgressHook {
 public:
  explicit ScopedProgressHook(sv::ProgressHook hook) : previous_(sv::set_progress_hook(std::move(hook))) {}
  ~ScopedProgressHook() { sv::set_progress_hook(std::move(previous_)); }
  ScopedProgressHook(const ScopedProgressHook&) = delete;
  ScopedProgressHook& operator=(const ScopedProgressHook&) = delete;

 private:
  sv::ProgressHook previous_;
};

}  // namespace svpy
