// Placeholder: replaced by the issue that implements these commands.
#include "apps/commands.h"
#include "autodiff/error.h"

namespace sv {

void add_info_command(CLI::App& app) {
  app.add_subcommand("info", "(not implemented yet)")->callback([] { throw Error("info is not implemented yet"); });
}

}  // namespace sv
