// `jwtgate revoke`: exit status contract (0 durable, 1 failed, 2 usage), messages, and the
// state it leaves behind.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "jwtgate/revocation.h"
#include "temp_dir.h"

namespace jwtgate {
namespace {

using test::TempDir;

struct Run {
  int exit_code;
  std::string output;  // stdout and stderr
};

Run Cli(const std::string& args) {
  const std::string cmd = std::string(JWTGATE_CLI_PATH) + " revoke " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  Run r{-1, {}};
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::unique_ptr<RevocationStore> OpenReadOnly(const std::string& dir) {
  RevocationOptions o;
  o.dir = dir;
  o.read_only = true;
  std::string error;
  auto s = RevocationStore::Open(o, &error);
  INFO(error);
  REQUIRE(s.ok());
  return std::move(s).value();
}

TEST_CASE("jwtgate revoke rejects malformed invocations with exit status 2", "[revocation_cli]") {
  TempDir tmp;
  const std::string st = "--state " + tmp.state();
  struct Row {
    std::string args;
    std::string message;
  };
  const Row rows[] = {
      {"--jti abc --exp 2000000000", "--state DIR is required"},
      {st, "give exactly one of --jti, --sub, --iss (alone) or --all"},
      {st + " --jti abc --sub alice --exp 1 --before 1",
       "give exactly one of --jti, --sub, --iss (alone) or --all"},
      {st + " --jti abc --exp 2000000000 --keep-for 60", "give --exp or --keep-for, not both"},
      {st + " --jti abc --keep-for 0", "--keep-for '0' is not a positive number of seconds"},
      {st + " --jti abc --keep-for soon", "--keep-for 'soon' is not a positive number"},
      {st + " --jti abc --exp soon", "--exp 'soon' is not a Unix time in seconds"},
      {st + " --jti abc --exp 12x", "--exp '12x' is not a Unix time in seconds"},
      {st + " --jti abc --exp 1 --before 1", "--before does not apply to --jti"},
      {st + " --sub alice", "--sub, --iss and --all need --before UNIX"},
      {st + " --sub alice --before yesterday", "--before 'yesterday' is not a Unix time"},
      {st + " --all --before 1 --exp 1", "--exp and --keep-for apply to --jti only"},
      {st + " --sub a --before 1 --keep-for 9", "--exp and --keep-for apply to --jti only"},
  };
  for (const Row& r : rows) {
    INFO(r.args);
    const Run run = Cli(r.args);
    CHECK(run.exit_code == 2);
    CHECK(run.output.find(r.message) != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(tmp.state()));  // nothing was created
}

TEST_CASE("jwtgate revoke --help describes the forms", "[revocation_cli]") {
  const Run run = Cli("--help");
  CHECK(run.exit_code == 0);
  for (const char* opt :
       {"--state", "--jti", "--exp", "--keep-for", "--sub", "--iss", "--all", "--before"}) {
    CHECK(run.output.find(opt) != std::string::npos);
  }
}

TEST_CASE("jwtgate revoke stores each form durably and exits 0", "[revocation_cli]") {
  TempDir tmp;
  const std::string st = "--state " + tmp.state();
  struct Row {
    std::string args;
    std::string printed;
  };
  const Row rows[] = {
      {st + " --jti tok-1 --exp 2000000000",
       "revoked jti tok-1 under every issuer, kept until 2000000000"},
      {st + " --jti tok-2 --exp none", "revoked jti tok-2 under every issuer, kept for ever"},
      {st + " --jti tok-3 --iss https://a.example",
       "revoked jti tok-3 of issuer https://a.example, kept for ever"},
      {st + " --sub alice --before 1000",
       "revoked tokens of subject alice issued at or before 1000"},
      {st + " --sub bob --iss https://b.example --before 2000",
       "revoked tokens of subject bob from issuer https://b.example issued at or before 2000"},
      {st + " --iss https://a.example --before 1500",
       "revoked tokens of issuer https://a.example issued at or before 1500"},
      {st + " --all --before 100", "revoked all tokens issued at or before 100"},
  };
  for (const Row& r : rows) {
    INFO(r.args);
    const Run run = Cli(r.args);
    CHECK(run.output == r.printed + "\n");
    CHECK(run.exit_code == 0);
  }
  // An exp that has passed keeps nothing: a token with that exp is rejected as expired anyway.
  // That is an error, not "revoked": the operator may have typed the wrong exp.
  const Run expired = Cli(st + " --jti old --exp 1000");
  CHECK(expired.exit_code == 1);
  CHECK(expired.output ==
        "error: nothing revoked: --exp 1000 has passed, so a token with that exp is rejected as "
        "expired anyway; omit --exp to revoke jti old whatever its exp\n");
  // --keep-for: kept from now on.
  const Run keep = Cli(st + " --jti tok-4 --iss https://a.example --keep-for 3600");
  CHECK(keep.exit_code == 0);
  CHECK(keep.output.find("revoked jti tok-4 of issuer https://a.example, kept until ") == 0);
  auto s = OpenReadOnly(tmp.state());
  CHECK(s->Stats().jti_revocations == 4);
  CHECK(s->Stats().long_lived_revocations == 2);
  // The exp given is not part of the key: any exp of the token matches.
  Claims c;
  c.jti = "tok-1";
  c.iss = "https://any.example";
  c.has_exp = true;
  c.exp = 1900000000;
  CHECK(s->IsRevoked(c));
  Claims no_exp;
  no_exp.jti = "tok-2";
  CHECK(s->IsRevoked(no_exp));
  Claims scoped;  // issued after every watermark of this state
  scoped.jti = "tok-3";
  scoped.iss = "https://a.example";
  scoped.has_iat = true;
  scoped.iat = 1'800'000'000;
  CHECK(s->IsRevoked(scoped));
  scoped.iss = "https://b.example";
  CHECK_FALSE(s->IsRevoked(scoped));
  Claims alice;
  alice.sub = "alice";
  alice.has_iat = true;
  alice.iat = 1000;
  CHECK(s->IsRevoked(alice));
  alice.iat = 1001;
  CHECK_FALSE(s->IsRevoked(alice));
  const RevocationStats stats = s->Stats();
  CHECK(stats.subject_watermarks == 2);
  CHECK(stats.issuer_watermarks == 1);
  CHECK(stats.global_watermark == 100);
}

TEST_CASE("jwtgate revoke exits 1 when the state cannot be opened or is locked",
          "[revocation_cli]") {
  TempDir tmp;
  Run run = Cli("--state " + tmp.path() + "/no/such/parent --jti a --exp 2000000000");
  CHECK(run.exit_code == 1);
  CHECK(run.output.find("error: revocation state") != std::string::npos);
  // A store (standing in for the daemon) owns the directory.
  RevocationOptions o;
  o.dir = tmp.state();
  std::string error;
  auto owner = RevocationStore::Open(o, &error);
  REQUIRE(owner.ok());
  run = Cli("--state " + tmp.state() + " --jti a --exp 2000000000");
  CHECK(run.exit_code == 1);
  CHECK(run.output.find("held by another process") != std::string::npos);
}

}  // namespace
}  // namespace jwtgate
