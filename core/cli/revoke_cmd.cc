// jwtgate revoke --state DIR (--jti ID [--iss ISS] [--exp UNIX|none | --keep-for SECONDS]
//                            | --sub S --before UNIX [--iss ISS] | --iss ISS --before UNIX
//                            | --all --before UNIX)
//
// Adds one revocation to a revocation state directory and exits 0 only once it is durable
// (appended to the log and fdatasync'ed). 2: usage error; 1: the state could not be opened or
// written (message on stderr).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/subcommand.h"
#include "jwtgate/revocation.h"

namespace jwtgate::cli {
namespace {

// What `jwtgate revoke --help` says the command does.
constexpr char kHelp[] =
    "Revoke one token by its jti (within --iss, or under every issuer without it), or every\n"
    "token issued at or before a time (--sub: one subject, optionally within --iss; --iss\n"
    "alone: one issuer; --all). A jti revocation is kept until --exp (the token's exp, when\n"
    "known), for --keep-for seconds, or else for ever.\n"
    "Exits 0 once the revocation is durable in --state, 1 if it could not be stored,\n"
    "2 on a usage error. A daemon that owns the directory must be asked through its\n"
    "admin API instead (the directory is locked).";

struct RevokeArgs {
  std::string state;
  std::string jti;
  std::string exp;
  std::string keep_for;
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
                    (a.iss.empty() || !a.sub.empty() || !a.jti.empty() ? 0 : 1);
  if (forms != 1) {
    return Usage("give exactly one of --jti, --sub, --iss (alone) or --all");
  }
  Revocation r;
  std::string what;
  if (!a.jti.empty()) {
    if (!a.before.empty()) return Usage("--before does not apply to --jti");
    if (!a.exp.empty() && !a.keep_for.empty()) return Usage("give --exp or --keep-for, not both");
    // The token's exp decides only how long the entry is kept; without it, --keep-for or
    // for ever.
    int64_t keep_until = RevocationStore::kNoExp;
    if (!a.exp.empty() && a.exp != "none" && !ParseInt64(a.exp, &keep_until)) {
      return Usage(fmt::format("--exp '{}' is not a Unix time in seconds", a.exp));
    }
    if (!a.keep_for.empty()) {
      int64_t seconds = 0;
      if (!ParseInt64(a.keep_for, &seconds) || seconds <= 0) {
        return Usage(
            fmt::format("--keep-for '{}' is not a positive number of seconds", a.keep_for));
      }
      keep_until = static_cast<int64_t>(std::time(nullptr)) + seconds;
    }
    r = Revocation::Jti(a.jti, a.iss, keep_until);
    what = fmt::format("jti {} {}, kept {}", a.jti,
                       a.iss.empty() ? std::string("under every issuer") : "of issuer " + a.iss,
                       keep_until == RevocationStore::kNoExp ? std::string("for ever")
                                                             : fmt::format("until {}", keep_until));
  } else {
    if (!a.exp.empty() || !a.keep_for.empty()) {
      return Usage("--exp and --keep-for apply to --jti only");
    }
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
    // Its window (exp plus leeway) has passed: nothing was kept. Say so rather than "revoked":
    // an operator who typed the wrong exp must not believe the token is revoked.
    fmt::print(stderr,
               "error: nothing revoked: --exp {} has passed, so a token with that exp is "
               "rejected as expired anyway; omit --exp to revoke jti {} whatever its exp\n",
               a.exp, a.jti);
    return kExitRejected;
  }
  fmt::print("revoked {}\n", what);
  return kExitOk;
}

}  // namespace

void RegisterRevoke(CLI::App& app, int* exit_code) {
  auto [cmd, args] = AddSubcommand(app, exit_code, RunRevoke, "revoke", kHelp);
  cmd->add_option("--state", args->state, "Revocation state directory (created if missing)")
      ->type_name("DIR");
  cmd->add_option("--jti", args->jti, "Revoke the token with this jti claim")->type_name("ID");
  cmd->add_option("--exp", args->exp,
                  "With --jti: the token's exp claim, if known: the revocation is kept until "
                  "then (plus leeway); 'none': for ever. It does not have to match the token")
      ->type_name("UNIX");
  cmd->add_option("--keep-for", args->keep_for,
                  "With --jti and no --exp: keep the revocation this long (at least the longest "
                  "token lifetime the verifiers accept, plus their leeway)")
      ->type_name("SECONDS");
  cmd->add_option("--sub", args->sub, "Revoke tokens of this subject issued at or before --before")
      ->type_name("S");
  cmd->add_option("--iss", args->iss,
                  "With --jti or --sub: only this issuer's tokens; alone: every token of this "
                  "issuer issued at or before --before")
      ->type_name("ISS");
  cmd->add_flag("--all", args->all, "Revoke every token issued at or before --before");
  cmd->add_option("--before", args->before,
                  "Tokens whose iat is at or before this time are revoked (tokens without iat "
                  "too)")
      ->type_name("UNIX");
}

}  // namespace jwtgate::cli
