// AddSubcommand: what every `jwtgate` subcommand does to join the CLI. Its options write into
// an Args struct that lives as long as the CLI::App; when the subcommand runs, `run` turns the
// Args into the process exit status (commands.h), stored in *exit_code.
#ifndef JWTGATE_CLI_SUBCOMMAND_H_
#define JWTGATE_CLI_SUBCOMMAND_H_

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <utility>

namespace jwtgate::cli {

// Adds subcommand `name` to `app`. Returns the subcommand, to add options to, and the Args the
// options are to be bound to (owned by the subcommand's callback).
template <typename Args>
std::pair<CLI::App*, Args*> AddSubcommand(CLI::App& app, int* exit_code, int (*run)(const Args&),
                                          std::string name, std::string description) {
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(std::move(name), std::move(description));
  cmd->callback([args, run, exit_code] { *exit_code = run(*args); });
  return {cmd, args.get()};
}

}  // namespace jwtgate::cli

#endif  // JWTGATE_CLI_SUBCOMMAND_H_
