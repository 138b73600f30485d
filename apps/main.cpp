// sharedvis: the command line. Each subcommand lives in apps/cmd_*.cpp.
#include <cstdio>
#include <exception>

#include "apps/commands.h"
#include "autodiff/error.h"

int main(int argc, char** argv) {
  CLI::App app{"sharedvis: shared-feature visualization by parallel backpropagation"};
  app.set_version_flag("--version", std::string("sharedvis ") + SHAREDVIS_VERSION);
  app.require_subcommand(0, 1);
  sv::add_info_command(app);
  sv::add_features_command(app);
  sv::add_vjp_command(app);
  sv::add_ig_command(app);
  sv::add_jacobian_command(app);
  sv::add_train_command(app);
  sv::add_eval_command(app);
  sv::add_explain_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const auto subs = app.get_subcommands();
    std::fprintf(stderr, "sharedvis%s%s: error: %s\nRun with --help for the options.\n", subs.empty() ? "" : " ",
                 subs.empty() ? "" : subs[0]->get_name().c_str(), e.what());
    return e.get_exit_code();
  } catch (const std::exception& e) {
    const auto subs = app.get_subcommands();
    std::fprintf(stderr, "sharedvis%s%s: error: %s\n", subs.empty() ? "" : " ",
                 subs.empty() ? "" : subs[0]->get_name().c_str(), e.what());
    return 1;
  }
  if (app.get_subcommands().empty()) std::printf("%s", app.help().c_str());
  return 0;
}
