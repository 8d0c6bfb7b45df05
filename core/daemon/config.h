// jwtgated configuration: a YAML file with a strict schema (an unknown key, a wrong type or an
// out-of-range value is an error naming the key and its line), plus command-line flags that
// override it (flags > file > defaults).
//
// Example (every key optional except `issuers`; scripts/deploy/jwtgated.yaml has them all):
//
//   auth:
//     listen: 127.0.0.1:9090
//     path_prefix: /auth
//     claim_headers: [{claim: email, header: X-Auth-Email},
//                     {claim: /realm_access/roles, header: X-Auth-Roles}]
//   routes:                                   # first match wins
//     - {path_prefix: /admin, methods: [GET, POST], require: {scopes_all: [admin]}}
//     - {path_prefix: /internal, deny: true}
//   routes_default: policy                    # or deny
//   decision_log: {path: stderr, sample_allows: 0.01, max_denies_per_second: 1000}
//   admin:
//     listen: 127.0.0.1:9091
//     token_file: /etc/jwtgate/admin.token   # required off loopback
//     protect_metrics: false                  # true: GET /metrics needs the token too
//   issuers:
//     - issuer: https://id.example.com
//       jwks_file: /etc/jwtgate/id.jwks
//     - issuer: https://login.example.org/realms/main   # keys fetched from the issuer
//       discovery: true
//   key_cache_dir: /var/cache/jwtgate/keys
//   verify: {audiences: [api], algorithms: [ES256], leeway_seconds: 30}
//   revocation: {dir: /var/lib/jwtgate/revocations}
//   cache: {entries: 65536}
//   pipeline: {workers: 0, inline: hmac}
//   io_threads: 1
//   http: {max_connections: 10000, header_timeout_ms: 10000}
//
// Remote issuers' keys follow the issuer without a reload (jwtgate/key_source.h).
// Reload (SIGHUP, POST /reload) re-reads the file and applies `issuers`, `verify`, the admin
// token and revocation.jti_retention_seconds, and reopens the decision log file (rotation); the
// other settings (listeners, threads, limits, cache, revocation, claim headers, routes, the
// decision log's settings) need a restart and a reload that changes them keeps their old values
// and says so.
#ifndef JWTGATE_DAEMON_CONFIG_H_
#define JWTGATE_DAEMON_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jwtgate/alg.h"

namespace jwtgate::daemon {

// One issuer and where its keys come from: exactly one of jwks_file, jwks_uri, discovery.
struct IssuerConfig {
  std::string issuer;              // the exact `iss` value; empty only with a single jwks_file
  std::string jwks_file;           // JWKS document (RFC 7517) of this issuer's public keys
  std::string jwks_uri;            // https URL of the issuer's JWKS (RemoteKeys)
  bool discovery = false;          // the JWKS URL from <issuer>/.well-known/openid-configuration
  std::optional<Alg> default_alg;  // for RSA/oct keys without `alg`
  // Remote keys only (jwtgate/key_source.h explains each):
  std::string ca_file;      // CA certificates for this issuer's HTTPS; "": the system's
  bool allow_http = false;  // http:// to a loopback host
  int64_t refresh_min_s = 60;
  int64_t refresh_max_s = 3600;
  int64_t unknown_kid_cooldown_s = 30;
  int64_t max_stale_s = 86400;
  uint32_t fetch_timeout_ms = 5000;
  size_t max_jwks_bytes = 1 << 20;

  bool remote() const { return !jwks_uri.empty() || discovery; }
  bool operator==(const IssuerConfig&) const = default;
};

// revocation.replication: revocations shared by every node through a Redis stream
// (core/replicate/replicator.h).
struct ReplicationConfig {
  std::string redis;    // "host:port" or "unix:/path/redis.sock"
  std::string node_id;  // unique in the fleet; default: the host name
  std::string key_prefix = "jwtgate:";
  std::string username;       // Redis ACL user ("" : default)
  std::string password_file;  // file holding the AUTH password ("" : no AUTH)
  size_t snapshot_every_entries = 10000;
  int64_t snapshot_min_age_s = 60;
  int wait_replicas = 0;
  int64_t max_disconnected_s = 60;
  bool fail_closed = false;  // on_disconnected: fail_closed (else serve)
  uint32_t connect_timeout_ms = 500;
  uint32_t command_timeout_ms = 2000;
  bool operator==(const ReplicationConfig&) const = default;
};

struct ClaimHeaderConfig {
  std::string claim;   // top-level claim name, or a JSON pointer ("/realm_access/roles")
  std::string header;  // response header field name
};

// routes[].require: what a verified token must carry, besides the top-level `verify:` policy,
// for a request of the route. Every list set here is non-empty (an empty one is a config
// error: it would read as "nothing required" or "nothing accepted").
struct RouteRequireConfig {
  std::vector<std::string> issuers;     // `iss` equals one of these
  std::vector<std::string> audiences;   // `aud` (string or array) holds one of these
  std::vector<std::string> scopes_all;  // every one of these is granted
  std::vector<std::string> scopes_any;  // at least one of these is granted
  // Claim (top-level name or JSON pointer) -> accepted values, compared with the claim's text
  // (numbers and booleans in their JSON text); an array claim passes when any element does.
  std::vector<std::pair<std::string, std::vector<std::string>>> claims;
  bool operator==(const RouteRequireConfig&) const = default;
};

// routes[]: first match wins (daemon/routes.h says how a request is matched).
struct RouteConfig {
  std::string name;                  // for the decision log; "": the path_prefix
  std::string path_prefix;           // a normalised path: matches it and what lies below it
  std::vector<std::string> methods;  // upper-case; empty: any method
  bool deny = false;                 // every request of the route is refused (403)
  RouteRequireConfig require;
  bool operator==(const RouteConfig&) const = default;
};

// decision_log: one JSON line per decision of the auth endpoint (daemon/decision_log.h).
struct DecisionLogConfig {
  std::string path;                       // "stderr", or a file (appended to, created 0640)
  double sample_allows = 1.0;             // the fraction of allows written
  uint32_t max_denies_per_second = 1000;  // denies beyond this rate are counted, not written
  bool operator==(const DecisionLogConfig&) const = default;
};

// auth.route_source: where the URI and method the client asked for are read (daemon/routes.h).
enum class RouteSource : uint8_t {
  kAuto,       // X-Original-* or X-Forwarded-* (both present: refused), else the path
  kOriginal,   // X-Original-URI / X-Original-Method (nginx)
  kForwarded,  // X-Forwarded-Uri / X-Forwarded-Method (Traefik, Caddy)
  kPath,       // the auth request's path below auth.path_prefix, and its method (Envoy)
};

// Where a token whose answer is not in the verified-token cache is verified.
enum class InlineVerify : uint8_t {
  kNone,  // always in the pipeline (worker threads)
  kHmac,  // on the I/O thread when every key is an HMAC key (cheaper than a thread hop)
  kAll,   // always on the I/O thread (scale with io_threads instead of workers)
};

struct Config {
  // auth:
  std::string auth_listen = "127.0.0.1:9090";  // HOST:PORT, [IPv6]:PORT or unix:/PATH
  std::string path_prefix = "/";
  std::string realm = "jwtgate";
  std::vector<ClaimHeaderConfig> claim_headers;
  RouteSource route_source = RouteSource::kAuto;
  std::string claim_header_separator = ",";  // joins the elements of an array claim
  size_t claim_header_max_bytes = 4096;      // longer (percent-encoded) values are sent empty
  // routes: (empty: every request gets the top-level policy alone)
  std::vector<RouteConfig> routes;
  bool routes_default_deny = false;  // routes_default: deny (a request matching no route: 403)
  // decision_log: (unset: off)
  std::optional<DecisionLogConfig> decision_log;
  // admin:
  std::string admin_listen = "127.0.0.1:9091";  // the same forms
  std::string admin_token_file;        // empty: the admin API takes no token (loopback only)
  bool admin_protect_metrics = false;  // GET /metrics needs the token too (probes never do)
  // The admin listener under a connection flood: beyond max_connections the oldest idle or
  // slow connection is evicted, and a request head must arrive within header_timeout_ms.
  size_t admin_max_connections = 256;
  uint32_t admin_header_timeout_ms = 2000;
  uint32_t admin_idle_timeout_ms = 10000;
  // issuers:
  std::vector<IssuerConfig> issuers;
  // key_cache_dir: where remote issuers' last good key sets are kept ("": nowhere; a restart
  // while an issuer's server is down then has no keys for it).
  std::string key_cache_dir;
  // verify:
  std::vector<std::string> audiences;
  std::vector<Alg> algorithms;  // empty: every algorithm the keys are bound to
  int64_t leeway_s = 30;
  bool require_exp = true;
  int64_t max_lifetime_s = 0;
  std::string typ;
  std::vector<std::string> required_claims;
  size_t max_token_bytes = 8192;
  // revocation:
  std::string revocation_dir;  // empty: no revocation
  double revocation_target_fpr = 0.001;
  size_t revocation_initial_capacity = 1024;
  int64_t revocation_leeway_s = 60;
  // How long a jti revocation that does not give the token's exp is kept, seconds; 0: for
  // ever. Unset: verify.max_lifetime_seconds + verify.leeway_seconds when a maximum lifetime
  // is set (no token valid at the revocation can outlive that), else for ever.
  std::optional<int64_t> revocation_jti_retention_s;
  std::optional<ReplicationConfig> replication;  // unset: this node's revocations stay here
  // cache:
  size_t cache_entries = 65536;  // 0: no verified-token cache
  // threads and pipeline:
  unsigned workers = 0;     // verification workers; 0: one per core
  unsigned io_threads = 1;  // auth listener threads (each has its own ring)
  size_t queue_capacity = 4096;
  size_t max_batch = 256;
  uint32_t batch_budget_us = 1000;  // PipelineOptions::batch_budget; 0: max_batch alone
  InlineVerify inline_verify = InlineVerify::kHmac;
  // http:
  size_t max_connections = 10000;  // per daemon, split between the I/O threads
  size_t max_pipelined = 16;
  uint32_t header_timeout_ms = 10000;
  uint32_t idle_timeout_ms = 60000;
  size_t max_request_line_bytes = 4096;
  size_t max_header_bytes = 16384;
  size_t max_headers = 64;
  size_t max_body_bytes = 1 << 20;  // auth requests: skipped, never buffered
  // shutdown:
  uint32_t drain_timeout_ms = 10000;
};

// Flags that override the file (unset: the file's value).
struct ConfigOverrides {
  std::optional<std::string> auth_listen;
  std::optional<std::string> admin_listen;
  std::optional<std::string> revocation_dir;
  std::optional<unsigned> workers;
  std::optional<unsigned> io_threads;
  std::optional<size_t> cache_entries;
};

// Parses YAML text into `*out` (starting from the defaults) and validates it. On failure returns
// false and a message such as "auth.claim_headers[1].heder (line 7): unknown key".
bool ParseConfig(std::string_view yaml, Config* out, std::string* error);

// Reads and parses a file; messages are prefixed with the path.
bool LoadConfigFile(const std::string& path, Config* out, std::string* error);

void ApplyOverrides(const ConfigOverrides& overrides, Config* config);

// Checks the cross-field rules (also run by ParseConfig; run it again after ApplyOverrides).
// Among them: an admin listener off loopback needs admin.token_file, or POST /revoke and
// /reload would be open to the network.
bool ValidateConfig(const Config& config, std::string* error);

// What is allowed but risky, one line each, for the log at start and under --check-config
// (e.g. an admin listener off loopback: its token travels in clear text).
std::vector<std::string> ConfigWarnings(const Config& config);

// The settings that a reload cannot change, described for a log line, when `next` differs from
// `running` in any of them; empty when it does not.
std::string RestartOnlyChanges(const Config& running, const Config& next);

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_CONFIG_H_
