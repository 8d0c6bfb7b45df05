// The subcommands of the `jwtgate` CLI. Each Register* adds one subcommand to `app`; when it
// runs, its callback stores the process exit status in `*exit_code`:
//   0 success (for verify: the token is valid), 1 rejected (verify) or operation failed,
//   2 usage or configuration error.
#ifndef JWTGATE_CLI_COMMANDS_H_
#define JWTGATE_CLI_COMMANDS_H_

namespace CLI {
class App;
}

namespace jwtgate::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRejected = 1;
inline constexpr int kExitUsage = 2;
// verify --jwks-uri / --discovery: the keys could not be fetched (network, TLS, refused set).
inline constexpr int kExitKeysUnavailable = 3;

void RegisterKeygen(CLI::App& app, int* exit_code);
void RegisterSign(CLI::App& app, int* exit_code);
void RegisterVerify(CLI::App& app, int* exit_code);
void RegisterRevoke(CLI::App& app, int* exit_code);
void RegisterPlan(CLI::App& app, int* exit_code);

}  // namespace jwtgate::cli

#endif  // JWTGATE_CLI_COMMANDS_H_
