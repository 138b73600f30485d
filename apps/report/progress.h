// A live progress line on stderr ("features  3200/10000  1450 img/s  5 s left"), shown
// only when stderr is a terminal; a finished stage prints its total time.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace sv {

// A hook every ProgressLine::update() calls first on this thread, shown or not: the Python
// module sets one around a call to drive its own progress bar and to check for Ctrl-C (a hook
// may throw, which unwinds the computation). Returns the previous hook.
using ProgressHook = std::function<void(const std::string& label, int64_t done, int64_t total)>;
ProgressHook set_progress_hook(ProgressHook hook);

class ProgressLine {
 public:
  ProgressLine(std::string label, std::string unit, bool enabled);
  void update(int64_t done, int64_t total);
  // update() as a callback for the primitives' progress argument.
  std::function<void(int64_t, int64_t)> fn() {
    return [this](int64_t done, int64_t total) { update(done, total); };
  }
  // Ends the line (terminal only).
  void finish();
  static bool terminal();  // isatty(stderr)

 private:
  std::string label_, unit_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace sv
