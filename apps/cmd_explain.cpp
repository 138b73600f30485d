// Placeholder: replaced by the issue that implements these commands.
#include "apps/commands.h"
#include "autodiff/error.h"

namespace sv {

void add_explain_command(CLI::App& app) {
  app.add_subcommand("explain", "(not implemented yet)")->callback([] { throw Error("explain is not implemented yet"); });
}

}  // namespace sv
