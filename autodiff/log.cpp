#include "autodiff/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sv {

bool debug_log_enabled() {
  const char* v = std::getenv("SHAREDVIS_LOG");
  return v != nullptr && std::strcmp(v, "debug") == 0;
}

void debug_log(const std::string& line) {
  if (debug_log_enabled()) std::fprintf(stderr, "sharedvis debug: %s\n", line.c_str());
}

}  // namespace sv
