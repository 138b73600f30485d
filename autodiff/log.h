// The debug log: one line per event on stderr, written only when the environment has
// SHAREDVIS_LOG=debug (read at each call: nothing is kept between calls). What goes there:
// notes a user may want when looking at speed or at which code ran, never errors (those
// are thrown) and nothing a run's result depends on. Today: an op that a backend does not
// implement and that runs on the CPU reference instead (autodiff/backend.h, "Fallback"),
// once per op and backend.
#pragma once
#include <string>

namespace sv {

bool debug_log_enabled();             // SHAREDVIS_LOG is "debug"
void debug_log(const std::string& line);  // "sharedvis debug: <line>" on stderr, if enabled

}  // namespace sv
