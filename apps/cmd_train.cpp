// Placeholder: replaced by the issue that implements these commands.
#include "apps/commands.h"
#include "autodiff/error.h"

namespace sv {

void add_train_command(CLI::App& app) {
  app.add_subcommand("train", "(not implemented yet)")->callback([] { throw Error("train is not implemented yet"); });
}

void add_eval_command(CLI::App& app) {
  app.add_subcommand("eval", "(not implemented yet)")->callback([] { throw Error("eval is not implemented yet"); });
}

}  // namespace sv
