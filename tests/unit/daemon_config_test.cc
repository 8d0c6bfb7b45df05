// jwtgated configuration (daemon/config.h): the strict YAML schema, flag overrides, reload
// rules, and building trust from JWKS files (daemon/trust.h).
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "daemon/config.h"
#include "daemon/trust.h"
#include "jwtgate/signer.h"
#include "temp_dir.h"

namespace {

using jwtgate::daemon::Config;
using jwtgate::daemon::ParseConfig;
using jwtgate::test::TempDir;

std::string Jwks(jwtgate::Alg alg, const std::string& kid, std::string* private_key = nullptr) {
  std::string priv, pub;
  std::optional<std::string_view> k;
  if (!kid.empty()) k = kid;
  REQUIRE(jwtgate::GenerateKey(alg, k, &priv, &pub) == jwtgate::Status::kOk);
  if (private_key != nullptr) *private_key = priv;
  return "{\"keys\":[" + pub + "]}";
}

bool ParseError(const std::string& yaml, std::string* error) {
  Config c;
  return !ParseConfig(yaml, &c, error);
}

}  // namespace

TEST_CASE("daemon config: a full file parses into typed fields", "[daemon_config]") {
  const std::string yaml = R"(
auth:
  listen: 127.0.0.1:19090
  path_prefix: /auth
  realm: example
  claim_headers:
    - {claim: email, header: X-Auth-Email}
    - claim: scope
      header: X-Auth-Scope
admin:
  listen: "[::1]:19091"
  token_file: /etc/jwtgate/admin.token
issuers:
  - issuer: https://a.example
    jwks_file: /etc/jwtgate/a.jwks
  - issuer: https://b.example
    jwks_file: /etc/jwtgate/b.jwks
    default_alg: RS256
verify:
  audiences: [api, web]
  algorithms: [ES256, EdDSA]
  leeway_seconds: 10
  require_exp: false
  max_lifetime_seconds: 3600
  typ: at+jwt
  required_claims: [jti]
  max_token_bytes: 4096
revocation:
  dir: /var/lib/jwtgate
  target_fpr: 0.0001
  initial_capacity: 4096
  leeway_seconds: 30
cache: {entries: 1024}
pipeline: {workers: 3, queue_capacity: 8192, max_batch: 16, batch_budget_us: 250}
io_threads: 2
http:
  max_connections: 500
  max_pipelined: 8
  header_timeout_ms: 2000
  idle_timeout_ms: 30000
  max_request_line_bytes: 2048
  max_header_bytes: 8192
  max_headers: 32
  max_body_bytes: 0
shutdown: {drain_timeout_ms: 5000}
)";
  Config c;
  std::string error;
  REQUIRE(ParseConfig(yaml, &c, &error));
  CHECK(c.auth_listen == "127.0.0.1:19090");
  CHECK(c.path_prefix == "/auth");
  CHECK(c.realm == "example");
  REQUIRE(c.claim_headers.size() == 2);
  CHECK(c.claim_headers[1].claim == "scope");
  CHECK(c.claim_headers[1].header == "X-Auth-Scope");
  CHECK(c.admin_listen == "[::1]:19091");
  CHECK(c.admin_token_file == "/etc/jwtgate/admin.token");
  REQUIRE(c.issuers.size() == 2);
  CHECK(c.issuers[1].default_alg == jwtgate::Alg::kRS256);
  CHECK(c.audiences == std::vector<std::string>{"api", "web"});
  CHECK(c.algorithms == std::vector<jwtgate::Alg>{jwtgate::Alg::kES256, jwtgate::Alg::kEdDSA});
  CHECK(c.leeway_s == 10);
  CHECK_FALSE(c.require_exp);
  CHECK(c.max_lifetime_s == 3600);
  CHECK(c.typ == "at+jwt");
  CHECK(c.max_token_bytes == 4096);
  CHECK(c.revocation_dir == "/var/lib/jwtgate");
  CHECK(c.revocation_target_fpr == Approx(0.0001));
  CHECK(c.revocation_leeway_s == 30);
  CHECK(c.cache_entries == 1024);
  CHECK(c.workers == 3);
  CHECK(c.queue_capacity == 8192);
  CHECK(c.max_batch == 16);
  CHECK(c.batch_budget_us == 250);
  CHECK(c.io_threads == 2);
  CHECK(c.max_connections == 500);
  CHECK(c.max_pipelined == 8);
  CHECK(c.header_timeout_ms == 2000);
  CHECK(c.max_body_bytes == 0);
  CHECK(c.drain_timeout_ms == 5000);
}

TEST_CASE("daemon config: defaults need only an issuer", "[daemon_config]") {
  Config c;
  std::string error;
  REQUIRE(ParseConfig("issuers: [{jwks_file: k.jwks}]\n", &c, &error));
  CHECK(c.auth_listen == "127.0.0.1:9090");
  CHECK(c.admin_listen == "127.0.0.1:9091");
  CHECK(c.path_prefix == "/");
  CHECK(c.leeway_s == 30);
  CHECK(c.require_exp);
  CHECK(c.cache_entries == 65536);
  CHECK(c.max_batch == 256);
  CHECK(c.batch_budget_us == 1000);
  CHECK(c.revocation_dir.empty());
  CHECK(c.issuers[0].issuer.empty());
}

TEST_CASE("daemon config: schema errors name the key and the line", "[daemon_config]") {
  struct Case {
    const char* name;
    std::string yaml;
    std::string expected;  // a substring of the message
  };
  const std::string iss = "issuers: [{jwks_file: k.jwks}]\n";
  const std::vector<Case> cases = {
      {"unknown top-level key", iss + "listen: 1\n", "listen (line 2): unknown key"},
      {"unknown nested key", iss + "auth:\n  path_prefx: /a\n", "auth.path_prefx (line 3): unknown key"},
      {"unknown key in a list item",
       iss + "auth:\n  claim_headers:\n    - {claim: a, heder: X-A}\n", "auth.claim_headers[0].heder"},
      {"duplicate key", iss + "io_threads: 1\nio_threads: 2\n", "duplicate key"},
      {"wrong type", iss + "cache: {entries: many}\n", "cache.entries (line 2): expected an integer"},
      {"negative", iss + "cache: {entries: -1}\n", "must be between 0 and"},
      {"out of range", iss + "io_threads: 65\n", "io_threads (line 2): must be between 1 and 64"},
      {"bool", iss + "verify: {require_exp: yes}\n", "expected true or false"},
      {"unknown algorithm", iss + "verify: {algorithms: [none]}\n", "unknown algorithm 'none'"},
      {"lower-case algorithm", iss + "verify: {algorithms: [es256]}\n", "unknown algorithm 'es256'"},
      {"list expected", iss + "verify: {audiences: api}\n", "expected a list"},
      {"missing issuers", "cache: {entries: 1}\n", "issuers: missing"},
      {"empty issuers", "issuers: []\n", "at least one issuer"},
      {"issuer without jwks", "issuers: [{issuer: a}]\n", "missing key 'jwks_file'"},
      {"several issuers need names", "issuers: [{jwks_file: a}, {issuer: b, jwks_file: b}]\n",
       "issuers[0].issuer: required"},
      {"issuer twice", "issuers: [{issuer: a, jwks_file: a}, {issuer: a, jwks_file: b}]\n",
       "configured twice"},
      {"bad listen", iss + "auth: {listen: localhost:80}\n", "auth.listen"},
      {"bad port", iss + "auth: {listen: '127.0.0.1:99999'}\n", "invalid port"},
      {"relative unix path", iss + "auth: {listen: 'unix:run/auth.sock'}\n",
       "auth.listen: expected unix:/ABSOLUTE/PATH"},
      {"abstract unix socket", iss + "admin: {listen: 'unix:@jwtgate'}\n",
       "admin.listen: abstract Unix sockets are refused"},
      {"same unix listeners",
       iss + "auth: {listen: 'unix:/run/j.sock'}\nadmin: {listen: 'unix:/run/j.sock'}\n",
       "must differ"},
      {"same listeners", iss + "auth: {listen: '127.0.0.1:9000'}\nadmin: {listen: '127.0.0.1:9000'}\n",
       "must differ"},
      {"path prefix", iss + "auth: {path_prefix: auth}\n", "auth.path_prefix"},
      {"realm quote", iss + "auth: {realm: 'a\"b'}\n", "auth.realm"},
      {"header name", iss + "auth: {claim_headers: [{claim: a, header: 'X A'}]}\n",
       "not a valid header field name"},
      {"reserved header", iss + "auth: {claim_headers: [{claim: a, header: Content-Length}]}\n",
       "is reserved"},
      {"built-in header", iss + "auth: {claim_headers: [{claim: a, header: x-auth-sub}]}\n",
       "used twice"},
      {"revocation leeway", iss + "verify: {leeway_seconds: 120}\nrevocation: {dir: /x, leeway_seconds: 60}\n",
       "revocation.leeway_seconds"},
      {"queue capacity", iss + "pipeline: {queue_capacity: 1000}\n", "power of two"},
      {"batch budget", iss + "pipeline: {batch_budget_us: -5}\n",
       "pipeline.batch_budget_us (line 2): must be between 0 and"},
      {"not a mapping", "- a\n- b\n", "mapping"},
      {"yaml syntax", "issuers: [\n", "line"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    std::string error;
    REQUIRE(ParseError(c.yaml, &error));
    CHECK_THAT(error, Catch::Matchers::Contains(c.expected));
  }
}

TEST_CASE("daemon config: flags override the file", "[daemon_config]") {
  Config c;
  std::string error;
  REQUIRE(ParseConfig("issuers: [{jwks_file: k}]\nauth: {listen: '127.0.0.1:1'}\ncache: {entries: 5}\n",
                      &c, &error));
  jwtgate::daemon::ConfigOverrides o;
  o.auth_listen = "127.0.0.1:2";
  o.cache_entries = 0;
  o.workers = 7;
  jwtgate::daemon::ApplyOverrides(o, &c);
  CHECK(c.auth_listen == "127.0.0.1:2");
  CHECK(c.cache_entries == 0);
  CHECK(c.workers == 7);
  CHECK(c.admin_listen == "127.0.0.1:9091");  // not overridden
  CHECK(jwtgate::daemon::ValidateConfig(c, &error));
}

TEST_CASE("daemon config: reload tells which changes need a restart", "[daemon_config]") {
  Config a, b;
  std::string error;
  REQUIRE(ParseConfig("issuers: [{jwks_file: k}]\n", &a, &error));
  b = a;
  b.audiences = {"new"};
  b.issuers[0].jwks_file = "other";
  CHECK(jwtgate::daemon::RestartOnlyChanges(a, b).empty());
  b.auth_listen = "127.0.0.1:1";
  b.cache_entries = 1;
  b.claim_headers.push_back({"email", "X-Email"});
  const std::string changes = jwtgate::daemon::RestartOnlyChanges(a, b);
  CHECK_THAT(changes, Catch::Matchers::Contains("auth.listen"));
  CHECK_THAT(changes, Catch::Matchers::Contains("cache"));
  CHECK_THAT(changes, Catch::Matchers::Contains("auth.claim_headers"));
}

TEST_CASE("daemon config: LoadConfigFile names the file", "[daemon_config]") {
  TempDir dir;
  Config c;
  std::string error;
  CHECK_FALSE(jwtgate::daemon::LoadConfigFile(dir.path() + "/missing.yaml", &c, &error));
  CHECK_THAT(error, Catch::Matchers::Contains("missing.yaml: cannot open"));
  const std::string p = dir.Write("bad.yaml", "issuers: [{jwks_file: k}]\nbogus: 1\n");
  CHECK_FALSE(jwtgate::daemon::LoadConfigFile(p, &c, &error));
  CHECK_THAT(error, Catch::Matchers::Contains("bad.yaml: bogus (line 2): unknown key"));
}

TEST_CASE("daemon trust: builds a verifier from JWKS files", "[daemon_config]") {
  TempDir dir;
  std::string priv;
  const std::string jwks = dir.Write("a.jwks", Jwks(jwtgate::Alg::kES256, "k1", &priv));
  Config c;
  std::string error;
  REQUIRE(ParseConfig("issuers: [{issuer: https://a, jwks_file: " + jwks + "}]\n", &c, &error));
  jwtgate::daemon::Trust t;
  REQUIRE(jwtgate::daemon::BuildTrust(c, nullptr, &t, &error));
  CHECK(t.keys == 1);
  CHECK_THAT(t.summary, Catch::Matchers::Contains("ES256"));

  auto signer = jwtgate::Signer::FromPem(priv, jwtgate::Alg::kES256);
  REQUIRE(signer.ok());
  const auto good = signer->Sign(R"({"iss":"https://a","sub":"u","exp":4102444800})", "k1");
  const auto other_iss = signer->Sign(R"({"iss":"https://b","sub":"u","exp":4102444800})", "k1");
  REQUIRE(good.ok());
  REQUIRE(other_iss.ok());
  CHECK(t.verifier->Verify(*good, 1700000000, nullptr) == jwtgate::Status::kOk);
  CHECK(t.verifier->Verify(*other_iss, 1700000000, nullptr) == jwtgate::Status::kIssNotAllowed);

  std::string iss;
  REQUIRE(jwtgate::daemon::PeekUnverifiedIssuer(*other_iss, &iss));
  CHECK(iss == "https://b");
  CHECK_FALSE(jwtgate::daemon::PeekUnverifiedIssuer("not-a-token", &iss));
  CHECK_FALSE(jwtgate::daemon::PeekUnverifiedIssuer("e30.e30.", &iss));  // {} . {}: no iss
}

TEST_CASE("daemon trust: several issuers bind each kid to its issuer", "[daemon_config]") {
  TempDir dir;
  std::string priv_a;
  const std::string a = dir.Write("a.jwks", Jwks(jwtgate::Alg::kES256, "ka", &priv_a));
  const std::string b = dir.Write("b.jwks", Jwks(jwtgate::Alg::kES256, "kb"));
  Config c;
  std::string error;
  REQUIRE(ParseConfig("issuers:\n  - {issuer: https://a, jwks_file: " + a +
                          "}\n  - {issuer: https://b, jwks_file: " + b + "}\n",
                      &c, &error));
  jwtgate::daemon::Trust t;
  REQUIRE(jwtgate::daemon::BuildTrust(c, nullptr, &t, &error));
  // The binding is the library's (JwksOptions::issuer): the verifier itself refuses a key of
  // issuer A vouching for a token that claims B, though both issuers are accepted.
  auto signer = jwtgate::Signer::FromPem(priv_a, jwtgate::Alg::kES256);
  REQUIRE(signer.ok());
  const auto as_a = signer->Sign(R"({"iss":"https://a","sub":"u","exp":4102444800})", "ka");
  const auto as_b = signer->Sign(R"({"iss":"https://b","sub":"u","exp":4102444800})", "ka");
  const auto no_iss = signer->Sign(R"({"sub":"u","exp":4102444800})", "ka");
  REQUIRE(as_a.ok());
  REQUIRE(as_b.ok());
  REQUIRE(no_iss.ok());
  CHECK(t.verifier->Verify(*as_a, 1700000000, nullptr) == jwtgate::Status::kOk);
  CHECK(t.verifier->Verify(*as_b, 1700000000, nullptr) == jwtgate::Status::kIssNotAllowed);
  CHECK(t.verifier->Verify(*no_iss, 1700000000, nullptr) == jwtgate::Status::kIssMissing);
  REQUIRE(t.per_issuer.count("https://a") == 1);
  REQUIRE(t.per_issuer.count("https://b") == 1);
  CHECK(jwtgate::daemon::SharedKids(*t.per_issuer["https://a"], *t.per_issuer["https://b"]) == "");
  CHECK(jwtgate::daemon::SharedKids(*t.per_issuer["https://a"], *t.per_issuer["https://a"]) ==
        "'ka'");
}

TEST_CASE("daemon trust: refuses ambiguous or unusable key sets", "[daemon_config]") {
  TempDir dir;
  Config c;
  std::string error;
  jwtgate::daemon::Trust t;

  const std::string k1 = dir.Write("k1.jwks", Jwks(jwtgate::Alg::kES256, "same"));
  const std::string k2 = dir.Write("k2.jwks", Jwks(jwtgate::Alg::kEdDSA, "same"));
  REQUIRE(ParseConfig("issuers:\n  - {issuer: a, jwks_file: " + k1 + "}\n  - {issuer: b, jwks_file: " +
                          k2 + "}\n", &c, &error));
  CHECK_FALSE(jwtgate::daemon::BuildTrust(c, nullptr, &t, &error));
  CHECK_THAT(error, Catch::Matchers::Contains("kid 'same' is also used by another issuer"));

  const std::string nokid = dir.Write("nokid.jwks", Jwks(jwtgate::Alg::kES256, ""));
  REQUIRE(ParseConfig("issuers:\n  - {issuer: a, jwks_file: " + k1 + "}\n  - {issuer: b, jwks_file: " +
                          nokid + "}\n", &c, &error));
  CHECK_FALSE(jwtgate::daemon::BuildTrust(c, nullptr, &t, &error));
  CHECK_THAT(error, Catch::Matchers::Contains("needs a kid"));

  REQUIRE(ParseConfig("issuers: [{jwks_file: " + dir.path() + "/absent.jwks}]\n", &c, &error));
  CHECK_FALSE(jwtgate::daemon::BuildTrust(c, nullptr, &t, &error));
  CHECK_THAT(error, Catch::Matchers::Contains("absent.jwks: cannot open"));

  const std::string garbage = dir.Write("garbage.jwks", "{\"keys\": [{\"kty\": \"EC\"}]}");
  REQUIRE(ParseConfig("issuers: [{jwks_file: " + garbage + "}]\n", &c, &error));
  CHECK_FALSE(jwtgate::daemon::BuildTrust(c, nullptr, &t, &error));
  CHECK_THAT(error, Catch::Matchers::Contains("garbage.jwks"));

  REQUIRE(ParseConfig("issuers: [{jwks_file: " + k1 + "}]\nverify: {algorithms: [RS256]}\n", &c,
                      &error));
  CHECK_FALSE(jwtgate::daemon::BuildTrust(c, nullptr, &t, &error));
  CHECK_THAT(error, Catch::Matchers::Contains("verify.algorithms"));
}

TEST_CASE("daemon config: an admin listener off loopback needs a token file", "[daemon_config]") {
  // Regression: 0.0.0.0 without admin.token_file started silently, with unauthenticated
  // POST /revoke and /reload on every interface.
  struct Row {
    const char* listen;
    bool token;
    bool accepted;
    bool warned;
  };
  const Row rows[] = {
      {"0.0.0.0:9091", false, false, false},   {"'[::]:9091'", false, false, false},
      {"192.0.2.10:9091", false, false, false}, {"'[2001:db8::1]:9091'", false, false, false},
      {"127.0.0.1:9091", false, true, false},   {"127.3.2.1:9091", false, true, false},
      {"'[::1]:9091'", false, true, false},     {"'[::ffff:127.0.0.1]:9091'", false, true, false},
      {"0.0.0.0:9091", true, true, true},       {"192.0.2.10:9091", true, true, true},
      {"127.0.0.1:9091", true, true, false},
      // A Unix socket is reachable from this host only (and its file is mode 0660).
      {"unix:/run/jwtgate/admin.sock", false, true, false},
  };
  for (const Row& r : rows) {
    INFO(r.listen << (r.token ? " with" : " without") << " a token file");
    const std::string yaml = std::string("issuers: [{jwks_file: k}]\nadmin:\n  listen: ") +
                             r.listen + "\n" +
                             (r.token ? "  token_file: /etc/jwtgate/admin.token\n" : "");
    Config c;
    std::string error;
    CHECK(ParseConfig(yaml, &c, &error) == r.accepted);
    if (!r.accepted) {
      CHECK_THAT(error, Catch::Matchers::Contains(
                            "is not a loopback address and admin.token_file is not set"));
      continue;
    }
    const std::vector<std::string> warnings = jwtgate::daemon::ConfigWarnings(c);
    CHECK(warnings.size() == (r.warned ? 1u : 0u));
    if (r.warned) {
      CHECK_THAT(warnings[0], Catch::Matchers::Contains("the admin API speaks plain HTTP"));
    }
  }
  // The same rule holds after a --admin-listen override.
  Config c;
  std::string error;
  REQUIRE(ParseConfig("issuers: [{jwks_file: k}]\n", &c, &error));
  jwtgate::daemon::ConfigOverrides o;
  o.admin_listen = "0.0.0.0:9091";
  jwtgate::daemon::ApplyOverrides(o, &c);
  CHECK_FALSE(jwtgate::daemon::ValidateConfig(c, &error));
}

TEST_CASE("daemon config: YAML nested past yaml-cpp's limit names the cause", "[daemon_config]") {
  // Regression: a document nested 20,000 deep reported "line 1: bad file".
  std::string error;
  REQUIRE(ParseError(std::string(20000, '[') + std::string(20000, ']'), &error));
  CHECK_THAT(error, Catch::Matchers::StartsWith("line 1: nested "));
  CHECK_THAT(error, Catch::Matchers::Contains("levels deep"));
  CHECK_THAT(error, !Catch::Matchers::Contains("bad file"));
  TempDir dir;
  Config c;
  CHECK_FALSE(jwtgate::daemon::LoadConfigFile(dir.path(), &c, &error));
  CHECK(error == dir.path() + ": is a directory, not a configuration file");
}

TEST_CASE("daemon config: admin and revocation keys added for operators", "[daemon_config]") {
  Config c;
  std::string error;
  REQUIRE(ParseConfig(R"(
issuers: [{jwks_file: k}]
admin: {protect_metrics: true, max_connections: 512, header_timeout_ms: 500, idle_timeout_ms: 3000}
revocation: {dir: /x, jti_retention_seconds: 7200}
)",
                      &c, &error));
  CHECK(c.admin_protect_metrics);
  CHECK(c.admin_max_connections == 512);
  CHECK(c.admin_header_timeout_ms == 500);
  CHECK(c.admin_idle_timeout_ms == 3000);
  CHECK(c.revocation_jti_retention_s == 7200);
  Config d;
  REQUIRE(ParseConfig("issuers: [{jwks_file: k}]\n", &d, &error));
  CHECK_FALSE(d.admin_protect_metrics);
  CHECK(d.admin_max_connections == 256);
  CHECK(d.admin_header_timeout_ms == 2000);
  CHECK_FALSE(d.revocation_jti_retention_s.has_value());
  CHECK(ParseError("issuers: [{jwks_file: k}]\nadmin: {max_connections: 2}\n", &error));
  CHECK_THAT(error, Catch::Matchers::Contains("admin.max_connections (line 2): must be between 4"));
  CHECK(ParseError("issuers: [{jwks_file: k}]\nrevocation: {jti_retention_seconds: -1}\n",
                   &error));
  CHECK_THAT(error, Catch::Matchers::Contains("revocation.jti_retention_seconds"));
}

TEST_CASE("daemon config: the example configuration parses", "[daemon_config]") {
  Config c;
  std::string error;
  INFO(error);
  CHECK(jwtgate::daemon::LoadConfigFile(
      std::string(JWTGATE_TEST_DATA_DIR) + "/../scripts/deploy/jwtgated.yaml", &c, &error));
  CHECK(c.admin_max_connections == 256);
  REQUIRE(c.routes.size() == 3);
  CHECK(c.routes[0].require.claims[0].first == "/realm_access/roles");
  CHECK(c.routes[1].deny);
  CHECK(c.claim_headers[2].claim == "/realm_access/roles");
}

TEST_CASE("daemon trust: max_token_bytes raises the decoded caps with it", "[daemon_config]") {
  // Regression: verify.max_token_bytes above about 8.3 KiB had no effect: the decoded payload
  // cap stayed at 6144 bytes and a correctly signed larger token got payload_too_large.
  TempDir dir;
  std::string priv;
  const std::string jwks = dir.Write("a.jwks", Jwks(jwtgate::Alg::kES256, "k1", &priv));
  Config c;
  std::string error;
  REQUIRE(ParseConfig("issuers: [{issuer: 'https://a', jwks_file: '" + jwks +
                          "'}]\nverify: {max_token_bytes: 16384}\nhttp: {max_header_bytes: 32768}\n",
                      &c, &error));
  jwtgate::daemon::Trust trust;
  INFO(error);
  REQUIRE(jwtgate::daemon::BuildTrust(c, nullptr, &trust, &error));
  auto signer = jwtgate::Signer::FromPem(priv, jwtgate::Alg::kES256);
  REQUIRE(signer.ok());
  const int64_t now = 1'800'000'000;
  auto token_with = [&](size_t pad) {
    const std::string claims = R"({"iss":"https://a","exp":1800000600,"pad":")" +
                               std::string(pad, 'x') + "\"}";
    auto t = signer->Sign(claims, "k1");
    REQUIRE(t.ok());
    return *t;
  };
  jwtgate::VerifyContext ctx;
  const std::string large = token_with(11000);  // about 14.7 KiB encoded
  REQUIRE(large.size() > 12000);
  REQUIRE(large.size() <= 16384);
  CHECK(trust.verifier->Verify(large, now, ctx, nullptr) == jwtgate::Status::kOk);
  const std::string over = token_with(12500);
  REQUIRE(over.size() > 16384);
  CHECK(trust.verifier->Verify(over, now, ctx, nullptr) == jwtgate::Status::kTokenTooLarge);
  const jwtgate::Limits l = jwtgate::Limits::ForTokenBytes(16384);
  CHECK(l.max_payload_bytes == 12288);
  CHECK(l.max_header_bytes == 2048);
  constexpr jwtgate::Limits kDefault{};
  CHECK(jwtgate::Limits::ForTokenBytes(8192).max_payload_bytes == kDefault.max_payload_bytes);
  CHECK(jwtgate::Limits::ForTokenBytes(8192).max_header_bytes == kDefault.max_header_bytes);
}
