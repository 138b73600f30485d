// sharedvis: the command line. Subcommands live in apps/cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "autodiff/error.h"

int main(int argc, char** argv) {
  CLI::App app{"sharedvis: shared-feature visualization by parallel backpropagation"};
  app.set_version_flag("--version", std::string("sharedvis ") + SHAREDVIS_VERSION);
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.get_subcommands().empty()) {
    std::printf("%s", app.help().c_str());
    return 0;
  }
  return 0;
}
