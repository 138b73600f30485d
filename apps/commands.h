// The CLI subcommands. Each add_*_command registers one subcommand whose callback runs
// it; errors are thrown as sv::Error and reported by main() with a non-zero exit.
#pragma once
#include <CLI/CLI.hpp>

namespace sv {

void add_info_command(CLI::App& app);      // apps/cmd_info.cpp
void add_features_command(CLI::App& app);  // apps/cmd_primitives.cpp (features, vjp, ig, jacobian)
void add_vjp_command(CLI::App& app);
void add_ig_command(CLI::App& app);
void add_jacobian_command(CLI::App& app);
void add_train_command(CLI::App& app);     // apps/cmd_train.cpp (train, eval)
void add_eval_command(CLI::App& app);
void add_explain_command(CLI::App& app);   // apps/cmd_explain.cpp

}  // namespace sv
