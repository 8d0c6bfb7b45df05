#include "daemon/config.h"

#include <sys/stat.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>

#include "daemon/config_reader.h"
#include "jwtgate/claims.h"
#include "net/http_fields.h"
#include "net/listener.h"

namespace jwtgate::daemon {
namespace {

constexpr int64_t kMaxI32 = std::numeric_limits<int32_t>::max();

bool ParseAuth(Reader& r, const YAML::Node& n, Config* c) {
  if (!r.Map(n, "auth",
             {"listen", "path_prefix", "realm", "claim_headers", "claim_header_separator",
              "claim_header_max_bytes", "route_source"})) {
    return false;
  }
  if (const YAML::Node rs = n["route_source"]) {
    static constexpr std::pair<std::string_view, RouteSource> kSources[] = {
        {"auto", RouteSource::kAuto},
        {"original", RouteSource::kOriginal},
        {"forwarded", RouteSource::kForwarded},
        {"path", RouteSource::kPath}};
    std::string v;
    if (!r.String(rs, "auth.route_source", &v)) return false;
    const auto* it = std::find_if(std::begin(kSources), std::end(kSources),
                                  [&v](const auto& e) { return e.first == v; });
    if (it == std::end(kSources)) {
      return r.Fail("auth.route_source", rs,
                    "expected auto, original, forwarded or path, got '" + v + "'");
    }
    c->route_source = it->second;
  }
  if (n["claim_header_separator"] &&
      !r.String(n["claim_header_separator"], "auth.claim_header_separator",
                &c->claim_header_separator)) {
    return false;
  }
  if (n["claim_header_max_bytes"] &&
      !r.Integer(n["claim_header_max_bytes"], "auth.claim_header_max_bytes", 16, 65536,
                 &c->claim_header_max_bytes)) {
    return false;
  }
  if (n["listen"] && !r.String(n["listen"], "auth.listen", &c->auth_listen)) return false;
  if (n["path_prefix"] && !r.String(n["path_prefix"], "auth.path_prefix", &c->path_prefix)) {
    return false;
  }
  if (n["realm"] && !r.String(n["realm"], "auth.realm", &c->realm)) return false;
  if (const YAML::Node h = n["claim_headers"]) {
    if (!h.IsSequence()) return r.Fail("auth.claim_headers", h, "expected a list");
    c->claim_headers.clear();
    size_t i = 0;
    for (const auto& e : h) {
      const std::string path = "auth.claim_headers[" + std::to_string(i++) + "]";
      if (!r.Map(e, path, {"claim", "header"})) return false;
      ClaimHeaderConfig ch;
      if (!e["claim"]) return r.Fail(path, e, "missing key 'claim'");
      if (!e["header"]) return r.Fail(path, e, "missing key 'header'");
      if (!r.String(e["claim"], path + ".claim", &ch.claim)) return false;
      if (!r.String(e["header"], path + ".header", &ch.header)) return false;
      c->claim_headers.push_back(std::move(ch));
    }
  }
  return true;
}

bool ParseAdmin(Reader& r, const YAML::Node& n, Config* c) {
  if (!r.Map(n, "admin",
             {"listen", "token_file", "protect_metrics", "max_connections", "header_timeout_ms",
              "idle_timeout_ms"})) {
    return false;
  }
  if (n["listen"] && !r.String(n["listen"], "admin.listen", &c->admin_listen)) return false;
  if (n["token_file"] && !r.String(n["token_file"], "admin.token_file", &c->admin_token_file)) {
    return false;
  }
  if (n["protect_metrics"] &&
      !r.Bool(n["protect_metrics"], "admin.protect_metrics", &c->admin_protect_metrics)) {
    return false;
  }
  if (n["max_connections"] && !r.Integer(n["max_connections"], "admin.max_connections", 4, 65536,
                                         &c->admin_max_connections)) {
    return false;
  }
  if (n["header_timeout_ms"] && !r.Integer(n["header_timeout_ms"], "admin.header_timeout_ms", 50,
                                           60000, &c->admin_header_timeout_ms)) {
    return false;
  }
  if (n["idle_timeout_ms"] && !r.Integer(n["idle_timeout_ms"], "admin.idle_timeout_ms", 50, kMaxI32,
                                         &c->admin_idle_timeout_ms)) {
    return false;
  }
  return true;
}

bool ParseIssuer(Reader& r, const YAML::Node& e, const std::string& path, IssuerConfig* ic) {
  if (!r.Map(
          e, path,
          {"issuer", "jwks_file", "jwks_uri", "discovery", "default_alg", "ca_file", "allow_http",
           "refresh_min_seconds", "refresh_max_seconds", "unknown_kid_cooldown_seconds",
           "max_stale_seconds", "fetch_timeout_ms", "max_jwks_bytes"})) {
    return false;
  }
  if (e["issuer"] && !r.String(e["issuer"], path + ".issuer", &ic->issuer)) return false;
  if (e["jwks_file"] && !r.String(e["jwks_file"], path + ".jwks_file", &ic->jwks_file)) {
    return false;
  }
  if (e["jwks_uri"] && !r.String(e["jwks_uri"], path + ".jwks_uri", &ic->jwks_uri)) return false;
  if (e["discovery"] && !r.Bool(e["discovery"], path + ".discovery", &ic->discovery)) return false;
  const int sources = (e["jwks_file"] ? 1 : 0) + (e["jwks_uri"] ? 1 : 0) + (ic->discovery ? 1 : 0);
  if (sources != 1) {
    return r.Fail(path, e,
                  sources == 0 ? "missing key 'jwks_file' (or 'jwks_uri', or 'discovery: true')"
                               : "give one of 'jwks_file', 'jwks_uri' and 'discovery: true'");
  }
  if (e["default_alg"]) {
    Alg a;
    if (!r.AlgValue(e["default_alg"], path + ".default_alg", &a)) return false;
    ic->default_alg = a;
  }
  // Settings of a remote key source: refused with a jwks_file, where they would do nothing.
  static constexpr const char* kRemoteOnly[] = {"ca_file",
                                                "allow_http",
                                                "refresh_min_seconds",
                                                "refresh_max_seconds",
                                                "unknown_kid_cooldown_seconds",
                                                "max_stale_seconds",
                                                "fetch_timeout_ms",
                                                "max_jwks_bytes"};
  for (const char* k : kRemoteOnly) {
    if (e[k] && !ic->remote()) {
      return r.Fail(path + "." + k, e[k], "applies to jwks_uri or discovery only");
    }
  }
  if (e["ca_file"] && !r.String(e["ca_file"], path + ".ca_file", &ic->ca_file)) return false;
  if (e["allow_http"] && !r.Bool(e["allow_http"], path + ".allow_http", &ic->allow_http)) {
    return false;
  }
  constexpr int64_t kWeek = 7 * 86400;
  struct Bound {
    const char* key;
    int64_t min, max;
    int64_t* out;
  };
  const Bound bounds[] = {
      {"refresh_min_seconds", 1, kWeek, &ic->refresh_min_s},
      {"refresh_max_seconds", 1, kWeek, &ic->refresh_max_s},
      {"unknown_kid_cooldown_seconds", 1, 86400, &ic->unknown_kid_cooldown_s},
      {"max_stale_seconds", 2, 365 * 86400, &ic->max_stale_s},
  };
  for (const Bound& b : bounds) {
    if (e[b.key] && !r.Integer(e[b.key], path + "." + b.key, b.min, b.max, b.out)) return false;
  }
  if (e["fetch_timeout_ms"] && !r.Integer(e["fetch_timeout_ms"], path + ".fetch_timeout_ms", 100,
                                          60000, &ic->fetch_timeout_ms)) {
    return false;
  }
  if (e["max_jwks_bytes"] && !r.Integer(e["max_jwks_bytes"], path + ".max_jwks_bytes", 1024,
                                        16 << 20, &ic->max_jwks_bytes)) {
    return false;
  }
  return true;
}

bool ParseIssuers(Reader& r, const YAML::Node& n, Config* c) {
  if (!n.IsSequence()) return r.Fail("issuers", n, "expected a list");
  c->issuers.clear();
  size_t i = 0;
  for (const auto& e : n) {
    IssuerConfig ic;
    if (!ParseIssuer(r, e, "issuers[" + std::to_string(i++) + "]", &ic)) return false;
    c->issuers.push_back(std::move(ic));
  }
  return true;
}

bool ParseVerify(Reader& r, const YAML::Node& n, Config* c) {
  if (!r.Map(n, "verify",
             {"audiences", "algorithms", "leeway_seconds", "require_exp", "max_lifetime_seconds",
              "typ", "required_claims", "max_token_bytes"})) {
    return false;
  }
  if (n["audiences"] && !r.StringList(n["audiences"], "verify.audiences", &c->audiences)) {
    return false;
  }
  if (const YAML::Node a = n["algorithms"]) {
    if (!a.IsSequence()) return r.Fail("verify.algorithms", a, "expected a list");
    c->algorithms.clear();
    size_t i = 0;
    for (const auto& e : a) {
      Alg alg;
      if (!r.AlgValue(e, "verify.algorithms[" + std::to_string(i++) + "]", &alg)) return false;
      c->algorithms.push_back(alg);
    }
  }
  if (n["leeway_seconds"] &&
      !r.Integer(n["leeway_seconds"], "verify.leeway_seconds", 0, 86400, &c->leeway_s)) {
    return false;
  }
  if (n["require_exp"] && !r.Bool(n["require_exp"], "verify.require_exp", &c->require_exp)) {
    return false;
  }
  if (n["max_lifetime_seconds"] &&
      !r.Integer(n["max_lifetime_seconds"], "verify.max_lifetime_seconds", 0, int64_t{1} << 40,
                 &c->max_lifetime_s)) {
    return false;
  }
  if (n["typ"] && !r.String(n["typ"], "verify.typ", &c->typ)) return false;
  if (n["required_claims"] &&
      !r.StringList(n["required_claims"], "verify.required_claims", &c->required_claims)) {
    return false;
  }
  if (n["max_token_bytes"] &&
      !r.Integer(n["max_token_bytes"], "verify.max_token_bytes", 64, 65536, &c->max_token_bytes)) {
    return false;
  }
  return true;
}

bool ParseReplication(Reader& r, const YAML::Node& n, Config* c) {
  const std::string at = "revocation.replication";
  if (!r.Map(
          n, at,
          {"redis", "node_id", "key_prefix", "username", "password_file", "snapshot_every_entries",
           "snapshot_min_age_seconds", "wait_replicas", "max_disconnected_seconds",
           "on_disconnected", "connect_timeout_ms", "command_timeout_ms"})) {
    return false;
  }
  ReplicationConfig rc;
  if (!n["redis"]) return r.Fail(at, n, "missing key 'redis' (host:port or unix:/path)");
  if (!r.String(n["redis"], at + ".redis", &rc.redis)) return false;
  struct Text {
    const char* key;
    std::string* out;
  };
  for (const Text& t : {Text{"node_id", &rc.node_id}, Text{"key_prefix", &rc.key_prefix},
                        Text{"username", &rc.username}, Text{"password_file", &rc.password_file}}) {
    if (n[t.key] && !r.String(n[t.key], at + "." + t.key, t.out)) return false;
  }
  if (n["snapshot_every_entries"] &&
      !r.Integer(n["snapshot_every_entries"], at + ".snapshot_every_entries", 10, int64_t{1} << 30,
                 &rc.snapshot_every_entries)) {
    return false;
  }
  if (n["snapshot_min_age_seconds"] &&
      !r.Integer(n["snapshot_min_age_seconds"], at + ".snapshot_min_age_seconds", 0, 86400,
                 &rc.snapshot_min_age_s)) {
    return false;
  }
  if (n["wait_replicas"] &&
      !r.Integer(n["wait_replicas"], at + ".wait_replicas", 0, 16, &rc.wait_replicas)) {
    return false;
  }
  if (n["max_disconnected_seconds"] &&
      !r.Integer(n["max_disconnected_seconds"], at + ".max_disconnected_seconds", 1, 7 * 86400,
                 &rc.max_disconnected_s)) {
    return false;
  }
  if (n["connect_timeout_ms"] && !r.Integer(n["connect_timeout_ms"], at + ".connect_timeout_ms", 10,
                                            60000, &rc.connect_timeout_ms)) {
    return false;
  }
  if (n["command_timeout_ms"] && !r.Integer(n["command_timeout_ms"], at + ".command_timeout_ms", 10,
                                            60000, &rc.command_timeout_ms)) {
    return false;
  }
  if (const YAML::Node d = n["on_disconnected"]) {
    std::string v;
    if (!r.String(d, at + ".on_disconnected", &v)) return false;
    if (v != "serve" && v != "fail_closed") {
      return r.Fail(at + ".on_disconnected", d, "expected serve or fail_closed, got '" + v + "'");
    }
    rc.fail_closed = v == "fail_closed";
  }
  c->replication = std::move(rc);
  return true;
}

bool ParseRevocation(Reader& r, const YAML::Node& n, Config* c) {
  const std::string at = "revocation";
  if (!r.Map(n, at,
             {"dir", "target_fpr", "initial_capacity", "leeway_seconds", "jti_retention_seconds",
              "replication"})) {
    return false;
  }
  if (n["replication"] && !ParseReplication(r, n["replication"], c)) return false;
  if (n["jti_retention_seconds"]) {
    int64_t v = 0;
    if (!r.Integer(n["jti_retention_seconds"], at + ".jti_retention_seconds", 0, int64_t{1} << 40,
                   &v)) {
      return false;
    }
    c->revocation_jti_retention_s = v;
  }
  if (n["dir"] && !r.String(n["dir"], at + ".dir", &c->revocation_dir)) return false;
  if (n["target_fpr"] &&
      !r.Double(n["target_fpr"], at + ".target_fpr", 1e-9, 0.5, &c->revocation_target_fpr)) {
    return false;
  }
  if (n["initial_capacity"] && !r.Integer(n["initial_capacity"], at + ".initial_capacity", 16,
                                          int64_t{1} << 32, &c->revocation_initial_capacity)) {
    return false;
  }
  if (n["leeway_seconds"] &&
      !r.Integer(n["leeway_seconds"], at + ".leeway_seconds", 0, 86400, &c->revocation_leeway_s)) {
    return false;
  }
  return true;
}

bool ParseHttp(Reader& r, const YAML::Node& n, Config* c) {
  if (!r.Map(n, "http",
             {"max_connections", "max_pipelined", "header_timeout_ms", "idle_timeout_ms",
              "max_request_line_bytes", "max_header_bytes", "max_headers", "max_body_bytes"})) {
    return false;
  }
  if (n["max_connections"] &&
      !r.Integer(n["max_connections"], "http.max_connections", 1, 1 << 22, &c->max_connections)) {
    return false;
  }
  if (n["max_pipelined"] &&
      !r.Integer(n["max_pipelined"], "http.max_pipelined", 1, 64, &c->max_pipelined)) {
    return false;
  }
  if (n["header_timeout_ms"] && !r.Integer(n["header_timeout_ms"], "http.header_timeout_ms", 50,
                                           kMaxI32, &c->header_timeout_ms)) {
    return false;
  }
  if (n["idle_timeout_ms"] &&
      !r.Integer(n["idle_timeout_ms"], "http.idle_timeout_ms", 50, kMaxI32, &c->idle_timeout_ms)) {
    return false;
  }
  if (n["max_request_line_bytes"] &&
      !r.Integer(n["max_request_line_bytes"], "http.max_request_line_bytes", 64, 65536,
                 &c->max_request_line_bytes)) {
    return false;
  }
  if (n["max_header_bytes"] && !r.Integer(n["max_header_bytes"], "http.max_header_bytes", 256,
                                          1 << 20, &c->max_header_bytes)) {
    return false;
  }
  if (n["max_headers"] &&
      !r.Integer(n["max_headers"], "http.max_headers", 4, 1024, &c->max_headers)) {
    return false;
  }
  if (n["max_body_bytes"] && !r.Integer(n["max_body_bytes"], "http.max_body_bytes", 0,
                                        int64_t{1} << 32, &c->max_body_bytes)) {
    return false;
  }
  return true;
}

bool ParsePipeline(Reader& r, const YAML::Node& n, Config* c) {
  if (!r.Map(n, "pipeline",
             {"workers", "queue_capacity", "max_batch", "batch_budget_us", "inline"}))
    return false;
  if (const YAML::Node in = n["inline"]) {
    std::string v;
    if (!r.String(in, "pipeline.inline", &v)) return false;
    if (v == "none") {
      c->inline_verify = InlineVerify::kNone;
    } else if (v == "hmac") {
      c->inline_verify = InlineVerify::kHmac;
    } else if (v == "all") {
      c->inline_verify = InlineVerify::kAll;
    } else {
      return r.Fail("pipeline.inline", in, "expected none, hmac or all, got '" + v + "'");
    }
  }
  if (n["workers"] && !r.Integer(n["workers"], "pipeline.workers", 0, 1024, &c->workers)) {
    return false;
  }
  if (n["queue_capacity"] &&
      !r.Integer(n["queue_capacity"], "pipeline.queue_capacity", 2, 1 << 22, &c->queue_capacity)) {
    return false;
  }
  if (n["max_batch"] && !r.Integer(n["max_batch"], "pipeline.max_batch", 1, 256, &c->max_batch)) {
    return false;
  }
  if (n["batch_budget_us"] && !r.Integer(n["batch_budget_us"], "pipeline.batch_budget_us", 0,
                                         1000000, &c->batch_budget_us)) {
    return false;
  }
  return true;
}

bool IsPowerOfTwo(size_t v) { return v != 0 && (v & (v - 1)) == 0; }

bool ValidRealm(std::string_view s) {
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u >= 0x7f || ch == '"' || ch == '\\') return false;
  }
  return true;
}

}  // namespace

bool ParseConfig(std::string_view yaml, Config* out, std::string* error) {
  Config c;
  Reader r(error);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp 0.7 gives this one the message "bad file".
    *error = "line " + std::to_string(e.mark.line + 1) + ": nested " + std::to_string(e.depth()) +
             " levels deep, where yaml-cpp stops (a jwtgated configuration is at most 4 deep)";
    return false;
  } catch (const YAML::Exception& e) {
    *error = "line " + std::to_string(e.mark.line + 1) + ": " + e.msg;
    return false;
  }
  if (!r.Map(
          root, "",
          {"auth", "admin", "issuers", "key_cache_dir", "verify", "revocation", "cache", "pipeline",
           "io_threads", "http", "shutdown", "routes", "routes_default", "decision_log"})) {
    if (!root.IsMap()) *error = "the configuration must be a YAML mapping";
    return false;
  }
  try {
    if (root["auth"] && !ParseAuth(r, root["auth"], &c)) return false;
    if (root["admin"] && !ParseAdmin(r, root["admin"], &c)) return false;
    if (!root["issuers"]) {
      *error = "issuers: missing (at least one issuer with its jwks_file)";
      return false;
    }
    if (!ParseIssuers(r, root["issuers"], &c)) return false;
    if (root["key_cache_dir"] &&
        !r.String(root["key_cache_dir"], "key_cache_dir", &c.key_cache_dir)) {
      return false;
    }
    if (root["verify"] && !ParseVerify(r, root["verify"], &c)) return false;
    if (root["revocation"] && !ParseRevocation(r, root["revocation"], &c)) return false;
    if (const YAML::Node n = root["cache"]) {
      if (!r.Map(n, "cache", {"entries"})) return false;
      if (n["entries"] &&
          !r.Integer(n["entries"], "cache.entries", 0, int64_t{1} << 28, &c.cache_entries)) {
        return false;
      }
    }
    if (root["pipeline"] && !ParsePipeline(r, root["pipeline"], &c)) return false;
    if (root["io_threads"] && !r.Integer(root["io_threads"], "io_threads", 1, 64, &c.io_threads)) {
      return false;
    }
    if (root["http"] && !ParseHttp(r, root["http"], &c)) return false;
    if (!ParsePolicy(r, root, &c)) return false;
    if (const YAML::Node n = root["shutdown"]) {
      if (!r.Map(n, "shutdown", {"drain_timeout_ms"})) return false;
      if (n["drain_timeout_ms"] && !r.Integer(n["drain_timeout_ms"], "shutdown.drain_timeout_ms", 0,
                                              3600000, &c.drain_timeout_ms)) {
        return false;
      }
    }
  } catch (const YAML::Exception& e) {
    *error = "line " + std::to_string(e.mark.line + 1) + ": " + e.msg;
    return false;
  }
  if (!ValidateConfig(c, error)) return false;
  *out = std::move(c);
  return true;
}

bool LoadConfigFile(const std::string& path, Config* out, std::string* error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    *error = path + ": is a directory, not a configuration file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (4u << 20)) {
    *error = path + ": larger than 4 MiB";
    return false;
  }
  if (!ParseConfig(ss.str(), out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

void ApplyOverrides(const ConfigOverrides& o, Config* c) {
  if (o.auth_listen) c->auth_listen = *o.auth_listen;
  if (o.admin_listen) c->admin_listen = *o.admin_listen;
  if (o.revocation_dir) c->revocation_dir = *o.revocation_dir;
  if (o.workers) c->workers = *o.workers;
  if (o.io_threads) c->io_threads = *o.io_threads;
  if (o.cache_entries) c->cache_entries = *o.cache_entries;
}

bool ValidateConfig(const Config& c, std::string* error) {
  net::SocketAddress addr;
  std::string e;
  if (!net::ParseSocketAddress(c.auth_listen, &addr, &e)) {
    *error = "auth.listen: " + e;
    return false;
  }
  if (!net::ParseSocketAddress(c.admin_listen, &addr, &e)) {
    *error = "admin.listen: " + e;
    return false;
  }
  if (!net::IsLoopback(addr) && c.admin_token_file.empty()) {
    *error = "admin.listen: " + c.admin_listen +
             " is not a loopback address and admin.token_file is not set: POST /revoke and "
             "POST /reload would take requests from the network without authentication; set "
             "admin.token_file, or listen on 127.0.0.1 or [::1]";
    return false;
  }
  if (c.auth_listen == c.admin_listen && c.auth_listen.substr(c.auth_listen.rfind(':')) != ":0") {
    *error = "admin.listen: must differ from auth.listen";
    return false;
  }
  if (c.path_prefix.empty() || c.path_prefix.front() != '/' ||
      c.path_prefix.find_first_of("?# \t") != std::string::npos) {
    *error = "auth.path_prefix: must start with '/' and contain no '?', '#' or spaces";
    return false;
  }
  if (c.claim_header_separator.empty() || c.claim_header_separator.size() > 8 ||
      !ValidRealm(c.claim_header_separator) ||
      c.claim_header_separator.find('%') != std::string::npos) {
    *error =
        "auth.claim_header_separator: 1 to 8 printable ASCII characters without '\"', '\\' or "
        "'%'";
    return false;
  }
  if (c.realm.empty() || !ValidRealm(c.realm)) {
    *error = "auth.realm: must be non-empty printable ASCII without '\"' or '\\'";
    return false;
  }
  std::set<std::string> names = {"x-auth-sub", "x-auth-iss"};
  for (size_t i = 0; i < c.claim_headers.size(); ++i) {
    const auto& ch = c.claim_headers[i];
    const std::string path = "auth.claim_headers[" + std::to_string(i) + "]";
    if (std::string why; !IsValidClaimPath(ch.claim, &why)) {
      *error = path + ".claim: '" + ch.claim + "': " + why;
      return false;
    }
    if (!net::IsValidFieldName(ch.header)) {
      *error = path + ".header: '" + ch.header + "' is not a valid header field name";
      return false;
    }
    std::string lower = ch.header;
    for (char& x : lower) x = static_cast<char>(std::tolower(static_cast<unsigned char>(x)));
    static const std::set<std::string> kReserved = {"content-length",
                                                    "connection",
                                                    "transfer-encoding",
                                                    "www-authenticate",
                                                    "cache-control",
                                                    "content-type",
                                                    "retry-after",
                                                    "keep-alive",
                                                    "upgrade",
                                                    "trailer",
                                                    "te",
                                                    "set-cookie"};
    if (kReserved.count(lower) != 0) {
      *error = path + ".header: '" + ch.header + "' is reserved";
      return false;
    }
    if (!names.insert(lower).second) {
      *error = path + ".header: '" + ch.header +
               "' is used twice (X-Auth-Sub and X-Auth-Iss are built in)";
      return false;
    }
  }
  if (c.issuers.empty()) {
    *error = "issuers: at least one issuer is required";
    return false;
  }
  std::set<std::string> issuers;
  for (size_t i = 0; i < c.issuers.size(); ++i) {
    const std::string path = "issuers[" + std::to_string(i) + "]";
    const IssuerConfig& ic = c.issuers[i];
    if (!ic.remote() && ic.jwks_file.empty()) {
      *error = path + ".jwks_file: empty";
      return false;
    }
    if (ic.issuer.empty() && c.issuers.size() > 1) {
      *error = path + ".issuer: required when several issuers are configured";
      return false;
    }
    if (ic.remote()) {
      if (ic.issuer.empty()) {
        *error = path + ".issuer: required with " + (ic.discovery ? "discovery" : "jwks_uri") +
                 " (the keys are bound to it)";
        return false;
      }
      if (ic.refresh_max_s < ic.refresh_min_s) {
        *error = path + ".refresh_max_seconds: less than refresh_min_seconds";
        return false;
      }
      if (ic.max_stale_s <= ic.refresh_max_s) {
        *error = path + ".max_stale_seconds: must exceed refresh_max_seconds (" +
                 std::to_string(ic.refresh_max_s) +
                 "), or the keys would go stale between two refreshes";
        return false;
      }
    }
    if (!issuers.insert(c.issuers[i].issuer).second) {
      *error = path + ".issuer: '" + c.issuers[i].issuer + "' is configured twice";
      return false;
    }
  }
  if (c.replication && c.revocation_dir.empty()) {
    *error = "revocation.replication: needs revocation.dir (the local state it replicates)";
    return false;
  }
  if (c.replication) {
    const std::string& id = c.replication->node_id;
    const bool id_ok = id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char ch) {
                         return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ||
                                ch == '_' || ch == '.' || ch == ':';
                       });
    if (!id_ok) {
      *error = "revocation.replication.node_id: at most 128 of A-Z a-z 0-9 - _ . :";
      return false;
    }
  }
  if (!c.revocation_dir.empty() && c.revocation_leeway_s < c.leeway_s) {
    *error = "revocation.leeway_seconds: must be at least verify.leeway_seconds (" +
             std::to_string(c.leeway_s) +
             "), or a revocation could expire while its token is "
             "still accepted";
    return false;
  }
  if (!IsPowerOfTwo(c.queue_capacity)) {
    *error = "pipeline.queue_capacity: must be a power of two";
    return false;
  }
  if (c.io_threads < 1 || c.io_threads > 64) {
    *error = "io_threads: must be between 1 and 64";
    return false;
  }
  if (c.max_connections < c.io_threads) {
    *error = "http.max_connections: must be at least io_threads";
    return false;
  }
  if (c.max_request_line_bytes > c.max_header_bytes) {
    *error = "http.max_request_line_bytes: must not exceed http.max_header_bytes";
    return false;
  }
  if (c.max_token_bytes > c.max_header_bytes) {
    *error = "verify.max_token_bytes: must not exceed http.max_header_bytes";
    return false;
  }
  return true;
}

std::vector<std::string> ConfigWarnings(const Config& c) {
  std::vector<std::string> out;
  if (c.replication && c.replication->password_file.empty() &&
      c.replication->redis.rfind("unix:", 0) != 0 && c.replication->redis.rfind("127.", 0) != 0 &&
      c.replication->redis.rfind("localhost:", 0) != 0 &&
      c.replication->redis.rfind("[::1]:", 0) != 0) {
    out.push_back("revocation.replication.redis: " + c.replication->redis +
                  " is not on loopback and no password_file is set: whoever reaches it can add "
                  "or remove revocations for every node (set a password, and run the connection "
                  "through a TLS tunnel: Debian's hiredis has no TLS)");
  }
  for (size_t i = 0; i < c.issuers.size(); ++i) {
    if (c.issuers[i].remote() && c.key_cache_dir.empty()) {
      out.push_back("issuers[" + std::to_string(i) + "] (" + c.issuers[i].issuer +
                    ") fetches its keys but key_cache_dir is not set: a restart while its "
                    "server is unreachable will have no keys for it until the server answers");
    }
  }
  net::SocketAddress addr;
  std::string e;
  if (net::ParseSocketAddress(c.admin_listen, &addr, &e) && !net::IsLoopback(addr)) {
    out.push_back("admin.listen: " + c.admin_listen +
                  " is not a loopback address: the admin API speaks plain HTTP, so its token "
                  "and revocations cross the network in clear text; limit who can reach it "
                  "(firewall, private network) or keep it on loopback");
  }
  return out;
}

std::string RestartOnlyChanges(const Config& a, const Config& b) {
  std::string out;
  auto note = [&out](bool differs, const char* name) {
    if (!differs) return;
    out += out.empty() ? "" : ", ";
    out += name;
  };
  note(a.auth_listen != b.auth_listen, "auth.listen");
  note(a.path_prefix != b.path_prefix, "auth.path_prefix");
  note(a.realm != b.realm, "auth.realm");
  bool headers_differ = a.claim_headers.size() != b.claim_headers.size();
  for (size_t i = 0; !headers_differ && i < a.claim_headers.size(); ++i) {
    headers_differ = a.claim_headers[i].claim != b.claim_headers[i].claim ||
                     a.claim_headers[i].header != b.claim_headers[i].header;
  }
  note(headers_differ || a.claim_header_separator != b.claim_header_separator ||
           a.claim_header_max_bytes != b.claim_header_max_bytes,
       "auth.claim_headers");
  note(a.routes != b.routes || a.routes_default_deny != b.routes_default_deny ||
           a.route_source != b.route_source,
       "routes");
  note(a.decision_log != b.decision_log, "decision_log");
  note(a.admin_listen != b.admin_listen || a.admin_max_connections != b.admin_max_connections ||
           a.admin_header_timeout_ms != b.admin_header_timeout_ms ||
           a.admin_idle_timeout_ms != b.admin_idle_timeout_ms,
       "admin.listen and its limits");
  note(a.revocation_dir != b.revocation_dir || a.revocation_target_fpr != b.revocation_target_fpr ||
           a.revocation_initial_capacity != b.revocation_initial_capacity ||
           a.revocation_leeway_s != b.revocation_leeway_s,
       "revocation");
  note(a.replication != b.replication, "revocation.replication");
  note(a.cache_entries != b.cache_entries, "cache");
  note(a.key_cache_dir != b.key_cache_dir, "key_cache_dir");
  note(a.workers != b.workers || a.queue_capacity != b.queue_capacity ||
           a.max_batch != b.max_batch || a.batch_budget_us != b.batch_budget_us ||
           a.inline_verify != b.inline_verify,
       "pipeline");
  note(a.io_threads != b.io_threads, "io_threads");
  note(a.max_connections != b.max_connections || a.max_pipelined != b.max_pipelined ||
           a.header_timeout_ms != b.header_timeout_ms || a.idle_timeout_ms != b.idle_timeout_ms ||
           a.max_request_line_bytes != b.max_request_line_bytes ||
           a.max_header_bytes != b.max_header_bytes || a.max_headers != b.max_headers ||
           a.max_body_bytes != b.max_body_bytes,
       "http");
  note(a.drain_timeout_ms != b.drain_timeout_ms, "shutdown");
  return out;
}

}  // namespace jwtgate::daemon
