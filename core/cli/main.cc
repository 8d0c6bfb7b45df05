// jwtgate: key generation, signing, verification and revocation from the command line.
#include <jwtgate_build_info.h>  // generated: JWTGATE_GIT_COMMIT

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "jwtgate/version.h"

int main(int argc, char** argv) {
  CLI::App app{
      "jwtgate: strict JWT (JWS compact) verification, keys and revocation.\n"
      "Exit status: 0 success/valid, 1 rejected or failed, 2 usage or configuration error."};
  app.require_subcommand(1);
  // "jwtgate 0.1.0 (git 1a2b3c4d5e6f)"; no git part outside a git checkout.
  app.set_version_flag("--version",
                       std::string("jwtgate " JWTGATE_VERSION_STRING) +
                           (sizeof(JWTGATE_GIT_COMMIT) > 1 ? " (git " JWTGATE_GIT_COMMIT ")" : ""));
  int exit_code = jwtgate::cli::kExitOk;
  jwtgate::cli::RegisterKeygen(app, &exit_code);
  jwtgate::cli::RegisterSign(app, &exit_code);
  jwtgate::cli::RegisterVerify(app, &exit_code);
  jwtgate::cli::RegisterRevoke(app, &exit_code);
  jwtgate::cli::RegisterPlan(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return jwtgate::cli::kExitUsage;
  }
  return exit_code;
}
