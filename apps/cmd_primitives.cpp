// Placeholder: replaced by the issue that implements these commands.
#include "apps/commands.h"
#include "autodiff/error.h"

namespace sv {

void add_features_command(CLI::App& app) {
  app.add_subcommand("features", "(not implemented yet)")->callback([] { throw Error("features is not implemented yet"); });
}

void add_vjp_command(CLI::App& app) {
  app.add_subcommand("vjp", "(not implemented yet)")->callback([] { throw Error("vjp is not implemented yet"); });
}

void add_ig_command(CLI::App& app) {
  app.add_subcommand("ig", "(not implemented yet)")->callback([] { throw Error("ig is not implemented yet"); });
}

void add_jacobian_command(CLI::App& app) {
  app.add_subcommand("jacobian", "(not implemented yet)")->callback([] { throw Error("jacobian is not implemented yet"); });
}

}  // namespace sv
