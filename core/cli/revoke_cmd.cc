// jwtgate revoke --state DIR (--jti ID --exp UNIX|none | --sub S --before UNIX [--iss ISS]
//                            | --iss ISS --before UNIX | --all --before UNIX)
//
// Adds one revocation to a revocation state directory and exits 0 only once it is durable
// (appended to the log and fdatasync'ed). 2: usage error; 1: the state could not be opened or
// written (message on stderr).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "jwtgate/revocation.h"

namespace jwtgate::cli {
namespace {

struct RevokeArgs {
  std::string state;
  std::string jti;
  std::string exp;
  std::string sub;
  std::string iss;
  std::string before;
  bool all = false;
};

bool ParseInt64(const std::string& s, int64_t* out) {
  const char* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && p == end && !s.empty();
}

int Usage(const std::string& message) {
  fmt::print(stderr, "error: {}\n", message);
  fmt::print(stderr, "Run 'jwtgate revoke --help' for the forms this command takes.\n");
  return kExitUsage;
}

int RunRevoke(const RevokeArgs& a) {
  if (a.state.empty()) return Usage("--state DIR is required");
  const int forms = (a.jti.empty() ? 0 : 1) + (a.sub.empty() ? 0 : 1) + (a.all ? 1 : 0) +
                    (a.iss.empty() || !a.sub.empty() ? 0 : 1);
  if (forms != 1) {
    return Usage("give exactly one of --jti, --sub, --iss (alone) or --all");
  }
  Revocation r;
  std::string what;
  if (!a.jti.empty()) {
    if (a.exp.empty()) return Usage("--jti needs --exp (the token's exp claim, or 'none')");
    if (!a.before.empty()) return Usage("--before does not apply to --jti");
    int64_t exp = 0;
    if (a.exp == "none") {
      exp = RevocationStore::kNoExp;
    } else if (!ParseInt64(a.exp, &exp)) {
      return Usage(fmt::format("--exp '{}' is not a Unix time in seconds", a.exp));
    }
    r = Revocation::Jti(a.jti, exp);
    what = fmt::format("jti {} (exp {})", a.jti, a.exp);
  } else {
    if (!a.exp.empty()) return Usage("--exp applies to --jti only");
    if (a.before.empty()) return Usage("--sub, --iss and --all need --before UNIX");
    int64_t before = 0;
    if (!ParseInt64(a.before, &before)) {
      return Usage(fmt::format("--before '{}' is not a Unix time in seconds", a.before));
    }
    if (!a.sub.empty()) {
      r = Revocation::Subject(a.sub, before, a.iss);
      what = a.iss.empty()
                 ? fmt::format("tokens of subject {} issued at or before {}", a.sub, before)
                 : fmt::format(
                       "tokens of subject {} from issuer {} issued at or "
                       "before {}",
                       a.sub, a.iss, before);
    } else if (!a.iss.empty()) {
      r = Revocation::Issuer(a.iss, before);
      what = fmt::format("tokens of issuer {} issued at or before {}", a.iss, before);
    } else {
      r = Revocation::All(before);
      what = fmt::format("all tokens issued at or before {}", before);
    }
  }

  RevocationOptions options;
  options.dir = a.state;
  std::string error;
  auto opened = RevocationStore::Open(options, &error);
  if (!opened.ok()) {
    fmt::print(stderr, "error: revocation state {}: {}\n", a.state, error);
    return kExitRejected;
  }
  std::unique_ptr<RevocationStore> store = std::move(opened).value();
  const Status s = store->Revoke({&r, 1});
  if (s != Status::kOk) {
    const std::string detail = store->last_error();
    fmt::print(stderr, "error: revoke {}: {}{}{}\n", what, ToString(s), detail.empty() ? "" : ": ",
               detail);
    return kExitRejected;
  }
  if (r.kind == Revocation::Kind::kJti && store->Stats().records_written == 0) {
    // The token's exp (plus leeway) is already past: it is rejected as expired anyway.
    fmt::print("nothing to revoke: jti {} expired at {}\n", a.jti, a.exp);
    return kExitOk;
  }
  fmt::print("revoked {}\n", what);
  return kExitOk;
}

}  // namespace

void RegisterRevoke(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RevokeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "revoke",
      "Revoke one token (--jti with its --exp) or every token issued at or before a time\n"
      "(--sub: one subject, optionally within --iss; --iss alone: one issuer; --all).\n"
      "Exits 0 once the revocation is durable in --state, 1 if it could not be stored,\n"
      "2 on a usage error. A daemon that owns the directory must be asked through its\n"
      "admin API instead (the directory is locked).");
  cmd->add_option("--state", args->state, "Revocation state directory (created if missing)")
      ->type_name("DIR");
  cmd->add_option("--jti", args->jti, "Revoke the token with this jti claim")->type_name("ID");
  cmd->add_option("--exp", args->exp,
                  "With --jti: the token's exp claim ('none' for a token without exp); the "
                  "revocation is kept until then")
      ->type_name("UNIX");
  cmd->add_option("--sub", args->sub, "Revoke tokens of this subject issued at or before --before")
      ->type_name("S");
  cmd->add_option("--iss", args->iss,
                  "With --sub: only this issuer's tokens of the subject; alone: every token "
                  "of this issuer issued at or before --before")
      ->type_name("ISS");
  cmd->add_flag("--all", args->all, "Revoke every token issued at or before --before");
  cmd->add_option("--before", args->before,
                  "Tokens whose iat is at or before this time are revoked (tokens without iat "
                  "too)")
      ->type_name("UNIX");
  cmd->callback([args, exit_code] { *exit_code = RunRevoke(*args); });
}

}  // namespace jwtgate::cli
