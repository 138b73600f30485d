// Progress line with rate and time left.
#include "apps/report/progress.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace sv {

namespace {
thread_local ProgressHook progress_hook;
}  // namespace

ProgressHook set_progress_hook(ProgressHook hook) {
  std::swap(hook, progress_hook);
  return hook;
}

ProgressLine::ProgressLine(std::string label, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), enabled_(enabled && terminal()),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

bool ProgressLine::terminal() { return ::isatty(STDERR_FILENO) == 1; }

void ProgressLine::update(int64_t done, int64_t total) {
  if (progress_hook) progress_hook(label_, done, total);
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && shown_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  const double left = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
  std::fprintf(stderr, "\r%-12s %lld/%lld  %.0f %s/s  %.0f s left   ", label_.c_str(), static_cast<long long>(done),
               static_cast<long long>(total), rate, unit_.c_str(), left);
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::finish() {
  if (!enabled_ || !shown_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "\r%-12s done in %.1f s%40s\n", label_.c_str(), secs, "");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace sv
