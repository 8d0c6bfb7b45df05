// jwtgated's per-route policy (daemon/routes.h), its configuration (routes, routes_default,
// decision_log, claim headers with JSON pointers), claim capture (VerifyContext::Capture) and
// the decision log (daemon/decision_log.h).
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/decision_log.h"
#include "daemon/routes.h"
#include "jwtgate/keys.h"
#include "jwtgate/signer.h"
#include "jwtgate/verifier.h"
#include "temp_dir.h"

namespace {

using jwtgate::ClaimValue;
using jwtgate::Status;
using jwtgate::daemon::ClaimCaptures;
using jwtgate::daemon::Config;
using jwtgate::daemon::kNoRoute;
using jwtgate::daemon::NormalizeRoutePath;
using jwtgate::daemon::RouteTable;

constexpr int64_t kNow = 1700000000;

const char* kIssuers = "issuers: [{issuer: https://a.example, jwks_file: /etc/jwtgate/a.jwks}]\n";

Config Parse(const std::string& yaml) {
  Config c;
  std::string error;
  INFO(yaml);
  REQUIRE(jwtgate::daemon::ParseConfig(std::string(kIssuers) + yaml, &c, &error));
  return c;
}

std::string ParseError(const std::string& yaml) {
  Config c;
  std::string error;
  INFO(yaml);
  REQUIRE_FALSE(jwtgate::daemon::ParseConfig(std::string(kIssuers) + yaml, &c, &error));
  return error;
}

ClaimValue Scalar(std::string v) { return ClaimValue{ClaimValue::Kind::kScalar, {std::move(v)}}; }
ClaimValue Array(std::vector<std::string> v) {
  return ClaimValue{ClaimValue::Kind::kArray, std::move(v)};
}

// Verifies a token made of `claims_json` (plus exp) and captures `paths` from it.
std::vector<ClaimValue> CaptureFrom(const std::string& claims_json,
                                    const std::vector<std::string>& paths) {
  jwtgate::KeySet::Builder b;
  const std::string secret(32, 's');
  REQUIRE(b.AddHmacSecret(std::span(reinterpret_cast<const uint8_t*>(secret.data()), secret.size()),
                          jwtgate::Alg::kHS256, std::nullopt) == Status::kOk);
  jwtgate::Verifier v(b.Build(), jwtgate::VerifierOptions{});
  auto signer = jwtgate::Signer::FromSecret(secret, jwtgate::Alg::kHS256);
  REQUIRE(signer.ok());
  std::string payload = claims_json;
  payload.insert(payload.size() - 1, ",\"exp\":" + std::to_string(kNow + 60));
  const auto token = signer->Sign(payload);
  REQUIRE(token.ok());
  jwtgate::VerifyContext ctx;
  REQUIRE(v.Verify(*token, kNow, ctx, nullptr) == Status::kOk);
  std::vector<ClaimValue> out(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) ctx.Capture(paths[i], &out[i]);
  return out;
}

}  // namespace

TEST_CASE("routes: the forwarded URI is normalised as a backend reads it", "[routes]") {
  struct Case {
    const char* uri;
    const char* path;  // nullptr: refused (route_uri_invalid)
  };
  const Case cases[] = {
      {"/", "/"},
      {"/admin", "/admin"},
      {"/admin/", "/admin/"},
      {"/admin?x=1#f", "/admin"},
      {"/%61dmin", "/admin"},
      {"/%2e%2e/admin", "/admin"},
      {"//admin//x", "/admin/x"},
      {"/public/../admin", "/admin"},
      {"/public/./x/..", "/public/"},
      {"/../../etc", "/etc"},
      {"http://host:8080/admin/x?y", "/admin/x"},
      {"HTTPS://host", "/"},
      {"/caf%C3%A9", "/caf\xc3\xa9"},
      {"/a%2Fb", nullptr},      // an encoded '/': one segment here, two for some backends
      {"/a%2fb", nullptr},      // ditto, lower case
      {"/a%00b", nullptr},      // NUL
      {"/a%0d%0ab", nullptr},   // CR LF
      {"/a%zz", nullptr},       // not an escape
      {"/a%4", nullptr},        // cut short
      {"admin", nullptr},       // no leading '/'
      {"", nullptr},            // nothing
      {"*", nullptr},           // asterisk-form
  };
  for (const Case& c : cases) {
    INFO(c.uri);
    std::string out;
    const bool ok = NormalizeRoutePath(c.uri, &out);
    CHECK(ok == (c.path != nullptr));
    if (ok) CHECK(out == c.path);
  }
}

TEST_CASE("routes: first match by whole-segment prefix and method", "[routes]") {
  const Config c = Parse(R"(
routes:
  - {name: orders-write, path_prefix: /orders, methods: [POST, PUT]}
  - {path_prefix: /orders}
  - {path_prefix: /static/}
  - {path_prefix: /admin, deny: true}
)");
  ClaimCaptures captures;
  const RouteTable t(c.routes, c.routes_default_deny, &captures);
  CHECK(t.enabled());
  CHECK(t.Match("POST", "/orders") == 0);
  CHECK(t.Match("PUT", "/orders/7") == 0);
  CHECK(t.Match("GET", "/orders/7") == 1);
  CHECK(t.Match("post", "/orders") == 1);  // methods compare exactly
  CHECK(t.Match("GET", "/ordersx") == kNoRoute);
  CHECK(t.Match("GET", "/static/a.css") == 2);
  CHECK(t.Match("GET", "/static") == kNoRoute);  // "/static/" is a prefix of what lies below
  CHECK(t.Match("GET", "/admin") == 3);
  CHECK(t.Match("GET", "/administrator") == kNoRoute);
  CHECK(t.DeniesOutright(3));
  CHECK_FALSE(t.DeniesOutright(0));
  CHECK_FALSE(t.DeniesOutright(kNoRoute));  // routes_default: policy
  CHECK(t.name(0) == "orders-write");
  CHECK(t.name(1) == "/orders");  // the default name
  CHECK(t.name(kNoRoute).empty());

  const Config deny = Parse("routes_default: deny\n");
  const RouteTable d(deny.routes, deny.routes_default_deny, &captures);
  CHECK(d.enabled());
  CHECK(d.Match("GET", "/") == kNoRoute);
  CHECK(d.DeniesOutright(kNoRoute));

  const RouteTable off({}, false, &captures);
  CHECK_FALSE(off.enabled());
}

TEST_CASE("routes: requirements against captured claims, with the exact status", "[routes]") {
  const Config c = Parse(R"(
routes:
  - path_prefix: /a
    require:
      issuers: [https://a.example]
      audiences: [api]
      scopes_all: [read, write]
      scopes_any: [admin, root]
      claims: {/realm_access/roles: [admin], email_verified: [true], level: ["3"]}
)");
  ClaimCaptures captures;
  captures.Add("email");  // a claim header's capture comes first
  const RouteTable t(c.routes, false, &captures);
  const std::vector<std::string>& p = captures.paths();
  REQUIRE(p == std::vector<std::string>{"email", "/realm_access/roles", "email_verified", "level",
                                        "aud", "scope", "scp"});
  CHECK(t.scope_hint(0) == "read write admin root");
  // email, roles, email_verified, level, aud, scope, scp
  const std::vector<ClaimValue> good = {Scalar("a@x"), Array({"user", "admin"}), Scalar("true"),
                                        Scalar("3"),   Array({"web", "api"}),   Scalar("read"),
                                        Array({"write", "admin"})};
  CHECK(t.Check(0, "https://a.example", good) == Status::kOk);
  CHECK(t.Check(kNoRoute, "anyone", {}) == Status::kOk);
  CHECK(t.Check(0, "https://b.example", good) == Status::kRouteIssuerNotAllowed);

  auto with = [&good](size_t i, ClaimValue v) {
    std::vector<ClaimValue> x = good;
    x[i] = std::move(v);
    return x;
  };
  CHECK(t.Check(0, "https://a.example", with(4, Scalar("api"))) == Status::kOk);
  CHECK(t.Check(0, "https://a.example", with(4, Scalar("web"))) ==
        Status::kRouteAudienceNotAllowed);
  CHECK(t.Check(0, "https://a.example", with(4, ClaimValue{})) ==
        Status::kRouteAudienceNotAllowed);
  // Scopes: `scope` space-separated, `scp` an array or a space-separated string, together.
  CHECK(t.Check(0, "https://a.example", with(5, Scalar("read write root"))) == Status::kOk);
  CHECK(t.Check(0, "https://a.example", with(5, Scalar("readwrite"))) ==
        Status::kRouteScopeMissing);
  CHECK(t.Check(0, "https://a.example", with(6, Scalar("write admin"))) == Status::kOk);
  CHECK(t.Check(0, "https://a.example", with(6, Array({"write"}))) ==
        Status::kRouteScopeMissing);  // scopes_any: neither admin nor root
  CHECK(t.Check(0, "https://a.example", with(6, ClaimValue{})) == Status::kRouteScopeMissing);
  // Claims: any element of an array; numbers and booleans by their JSON text.
  CHECK(t.Check(0, "https://a.example", with(1, Array({"user"}))) ==
        Status::kRouteClaimNotAccepted);
  CHECK(t.Check(0, "https://a.example", with(1, Scalar("admin"))) == Status::kOk);
  CHECK(t.Check(0, "https://a.example", with(1, ClaimValue{})) == Status::kRouteClaimNotAccepted);
  CHECK(t.Check(0, "https://a.example", with(2, Scalar("false"))) ==
        Status::kRouteClaimNotAccepted);
  CHECK(t.Check(0, "https://a.example", with(3, Scalar("30"))) == Status::kRouteClaimNotAccepted);
}

TEST_CASE("routes: configuration errors name the key", "[routes][daemon_config]") {
  struct Case {
    const char* yaml;
    const char* message;
  };
  const Case cases[] = {
      {"routes: [{path_prefix: /a, require: {scope_all: [x]}}]",
       "routes[0].require.scope_all (line 2): unknown key"},
      {"routes: [{path_prefix: /a, require: {scopes_all: []}}]",
       "routes[0].require.scopes_all (line 2): empty list"},
      {"routes: [{path_prefix: /a, require: {scopes_any: [\"a b\"]}}]",
       "routes[0].require.scopes_any (line 2): 'a b': a scope holds no spaces"},
      {"routes: [{path_prefix: /a, require: {claims: {/a~2b: [x]}}}]",
       "routes[0].require.claims./a~2b (line 2): JSON pointer: '~' must be followed by '0' or '1'"},
      {"routes: [{path_prefix: /a, require: {claims: {/roles: []}}}]",
       "routes[0].require.claims./roles (line 2): empty list"},
      {"routes: [{path_prefix: /a, require: {claims: {}}}]",
       "routes[0].require.claims (line 2): empty mapping"},
      {"routes: [{path_prefix: /a, methods: [get]}]",
       "routes[0].methods (line 2): 'get' is not an upper-case method name"},
      {"routes: [{path_prefix: /a, methods: []}]", "routes[0].methods (line 2): empty list"},
      {"routes: [{path_prefix: /a, deny: true, require: {scopes_all: [x]}}]",
       "routes[0].require (line 2): a route with deny: true refuses every request"},
      {"routes: [{path_prefix: /a/../b}]",
       "routes[0].path_prefix (line 2): '/a/../b' is not a normalised path"},
      {"routes: [{path_prefix: a}]", "routes[0].path_prefix (line 2): 'a' is not a normalised path"},
      {"routes: [{methods: [GET]}]", "routes[0] (line 2): missing key 'path_prefix'"},
      {"routes:\n  - {path_prefix: /a}\n  - {path_prefix: /b, dney: true}",
       "routes[1].dney (line 4): unknown key"},
      {"routes_default: allow", "routes_default (line 2): expected policy or deny, got 'allow'"},
      {"decision_log: {sample_allows: 0.5}", "decision_log (line 2): missing key 'path'"},
      {"decision_log: {path: stderr, sample_allows: 2}",
       "decision_log.sample_allows (line 2): out of range"},
      {"decision_log: {path: stderr, max_denies_per_second: -1}",
       "decision_log.max_denies_per_second (line 2): must be between 0 and 100000000"},
      {"auth: {claim_headers: [{claim: /a~, header: X-A}]}",
       "auth.claim_headers[0].claim: '/a~': JSON pointer: '~' must be followed by '0' or '1'"},
      {"auth: {claim_header_separator: \"\\n\"}", "auth.claim_header_separator: 1 to 8"},
      {"auth: {claim_header_separator: \"%\"}", "auth.claim_header_separator: 1 to 8"},
      {"auth: {route_source: nginx}",
       "auth.route_source (line 2): expected auto, original, forwarded or path, got 'nginx'"},
  };
  for (const Case& c : cases) {
    const std::string error = ParseError(c.yaml);
    INFO(error);
    CHECK(error.find(c.message) == 0);
  }
}

TEST_CASE("routes: a full policy parses into typed fields", "[routes][daemon_config]") {
  const Config c = Parse(R"(
auth:
  claim_headers: [{claim: /realm_access/roles, header: X-Auth-Roles}]
  claim_header_separator: "; "
  claim_header_max_bytes: 1024
routes:
  - name: admin
    path_prefix: /admin
    methods: [GET, POST]
    require:
      audiences: [api]
      claims: {/realm_access/roles: [admin, root], n: [42]}
routes_default: deny
decision_log: {path: /var/log/jwtgate/decisions.log, sample_allows: 0.01, max_denies_per_second: 50}
)");
  CHECK(c.claim_headers[0].claim == "/realm_access/roles");
  CHECK(c.claim_header_separator == "; ");
  CHECK(c.claim_header_max_bytes == 1024);
  REQUIRE(c.routes.size() == 1);
  CHECK(c.routes[0].name == "admin");
  CHECK(c.routes[0].methods == std::vector<std::string>{"GET", "POST"});
  CHECK(c.routes[0].require.audiences == std::vector<std::string>{"api"});
  REQUIRE(c.routes[0].require.claims.size() == 2);
  CHECK(c.routes[0].require.claims[0].first == "/realm_access/roles");
  CHECK(c.routes[0].require.claims[0].second == std::vector<std::string>{"admin", "root"});
  CHECK(c.routes[0].require.claims[1].second == std::vector<std::string>{"42"});
  CHECK(c.routes_default_deny);
  REQUIRE(c.decision_log.has_value());
  CHECK(c.decision_log->path == "/var/log/jwtgate/decisions.log");
  CHECK(c.decision_log->sample_allows == 0.01);
  CHECK(c.decision_log->max_denies_per_second == 50);
  // Restart-only: a reload that changes them says so.
  Config next = c;
  next.routes[0].require.audiences = {"web"};
  next.decision_log->sample_allows = 1;
  CHECK(jwtgate::daemon::RestartOnlyChanges(c, next) == "routes, decision_log");
}

TEST_CASE("claims: Capture by name and by JSON pointer", "[routes][claims]") {
  const std::vector<std::string> paths = {
      "email", "/realm_access/roles", "/mixed", "n", "b", "/obj", "missing", "/a~1b/c~0d",
      "/realm_access/roles/1", "/email/x", "nul"};
  const std::vector<ClaimValue> v = CaptureFrom(
      R"({"email":"a@x","realm_access":{"roles":["user","admin"]},)"
      R"("mixed":["s",1,true,null,{"o":1},[2],2.5],"n":42,"b":false,"obj":{"k":"v"},)"
      R"("a/b":{"c~d":"esc"},"nul":null})",
      paths);
  CHECK(v[0] == Scalar("a@x"));
  CHECK(v[1] == Array({"user", "admin"}));
  CHECK(v[2] == Array({"s", "1", "true", "2.5"}));  // null, object and array elements skipped
  CHECK(v[3] == Scalar("42"));
  CHECK(v[4] == Scalar("false"));
  CHECK(v[5].kind == ClaimValue::Kind::kOther);
  CHECK(v[5].items.empty());
  CHECK(v[6].kind == ClaimValue::Kind::kAbsent);
  CHECK(v[7] == Scalar("esc"));  // ~1 is '/', ~0 is '~'
  CHECK(v[8] == Scalar("admin"));
  CHECK(v[9].kind == ClaimValue::Kind::kAbsent);  // through a string
  CHECK(v[10].kind == ClaimValue::Kind::kOther);  // null
  CHECK(jwtgate::IsValidClaimPath("realm_access/roles"));  // a top-level name, '/' and all
  CHECK_FALSE(jwtgate::IsValidClaimPath(""));
  CHECK_FALSE(jwtgate::IsValidClaimPath("/a~"));
}

TEST_CASE("decision log: W3C traceparent trace ids", "[routes][decision_log]") {
  using jwtgate::daemon::TraceIdOf;
  CHECK(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") ==
        "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(TraceIdOf("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") ==
        "4bf92f3577b34da6a3ce929d0e0e4736");  // a later version may append fields
  CHECK(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").empty());
  CHECK(TraceIdOf("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").empty());
  CHECK(TraceIdOf("00-00000000000000000000000000000000-00f067aa0ba902b7-01").empty());
  CHECK(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").empty());
  CHECK(TraceIdOf("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").empty());
  CHECK(TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01").empty());
  CHECK(TraceIdOf("").empty());
}

TEST_CASE("decision log: JSON lines, sampling, the deny rate and reopening", "[routes][decision_log]") {
  using jwtgate::daemon::DecisionLog;
  using jwtgate::daemon::DecisionRecord;
  jwtgate::test::TempDir dir;
  const std::string path = dir.path() + "/decisions.log";
  jwtgate::daemon::DecisionLogConfig cfg;
  cfg.path = path;
  cfg.sample_allows = 0.0;
  cfg.max_denies_per_second = 5;
  std::string error;
  auto log = DecisionLog::Open(cfg, 1, &error);
  REQUIRE(log);
  DecisionLog::Writer* w = log->writer(0);
  CHECK_FALSE(w->SampleAllow());
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += w->AdmitDeny(1000000000) ? 1 : 0;
  CHECK(admitted == 5);  // a one-second burst at the rate
  CHECK(log->dropped_rate() == 95);
  CHECK(w->AdmitDeny(1000000000 + 200000000));  // 0.2 s later: one more token
  CHECK_FALSE(w->AdmitDeny(1000000000 + 200000000));

  DecisionRecord r;
  r.route = "ad\"min";
  r.has_route = true;
  r.method = "G\xff\n";  // request-supplied bytes: escaped, the line stays valid JSON
  r.decision = "deny";
  r.status = 403;
  r.reason = "route_scope_missing";
  r.verified = true;
  r.sub = "alice";
  r.iss = "https://a.example";
  r.kid = "k1";
  r.alg = "ES256";
  r.cache = true;
  r.latency_us = 12;
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  w->Append(r);
  DecisionRecord anon;
  anon.method = "GET";
  anon.decision = "deny";
  anon.status = 401;
  anon.reason = "signature_invalid";
  w->Append(anon);
  w->Flush();
  CHECK(log->lines() == 2);

  std::ifstream in(path);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 2);
  const auto& a = lines[0];
  CHECK(a["route"] == "ad\"min");
  CHECK(a["method"] == "G\u00ff\n");
  CHECK(a["decision"] == "deny");
  CHECK(a["status"] == 403);
  CHECK(a["reason"] == "route_scope_missing");
  CHECK(a["sub"] == "alice");
  CHECK(a["kid"] == "k1");
  CHECK(a["alg"] == "ES256");
  CHECK(a["cache"] == true);
  CHECK(a["latency_us"] == 12);
  CHECK(a["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(a["time"].get<std::string>().size() == 27);  // 2026-12-07T11:22:33.123456Z
  const auto& b = lines[1];
  CHECK(b["route"].is_null());
  CHECK(b["sub"].is_null());
  CHECK(b["iss"].is_null());
  CHECK(b["kid"].is_null());
  CHECK(b["alg"].is_null());
  CHECK(b["trace_id"].is_null());
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);

  // Rotation: the file moved away, a reopen writes to a new one.
  REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
  REQUIRE(log->Reopen(&error));
  w->Append(anon);
  w->Flush();
  std::ifstream fresh(path);
  int count = 0;
  while (std::getline(fresh, line)) ++count;
  CHECK(count == 1);

  cfg.path = dir.path() + "/no/such/dir/x.log";
  CHECK_FALSE(DecisionLog::Open(cfg, 1, &error));
  CHECK(error.find("decision_log.path " + cfg.path + ": cannot open") == 0);
}
