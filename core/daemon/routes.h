// Per-route policy of the auth endpoint: which route a request is for, and whether a verified
// token carries what that route requires (config keys `routes`, `routes_default`).
//
// Which request. The proxy says what the client asked for: the URI from X-Original-URI (nginx),
// else X-Forwarded-Uri (Traefik, Caddy), else the auth request's own path below
// auth.path_prefix (Envoy appends the original path to its prefix); the method from
// X-Original-Method, else X-Forwarded-Method, else the auth request's method.
//
// Normalisation. The URI is matched as the application behind the proxy will read it, so that
// "/%61dmin", "//admin" and "/public/../admin" are all "/admin" (nginx's $request_uri is the raw
// target): query and fragment dropped, an absolute-form "http(s)://host" dropped,
// percent-escapes decoded once, empty and "." segments dropped, ".." resolved. A URI that
// cannot be read the same way by every backend is refused (route_uri_invalid): a bad escape,
// an encoded '/' (%2F: one segment here, two for some backends), a NUL or other control byte,
// or no leading '/'. Paths compare case-sensitively; ';' path parameters are not interpreted.
//
// Matching. First match wins: a route matches when its path_prefix is the path or a whole-
// segment prefix of it ("/admin" matches "/admin" and "/admin/x", not "/administrator"; a
// prefix ending in '/' matches what lies below it), and its methods (if any) hold the method.
// A request that matches no route gets the top-level policy, or 403 route_denied with
// routes_default: deny. A `deny: true` route refuses without looking at the token.
//
// Requirements are checked after the token verified (its top-level policy included), against
// the claims captured at verification (ClaimCaptures): on a cache hit they cost a few string
// compares, never a JSON parse. Scopes come from `scope` and `scp`, each a space-separated
// string or an array of strings (OAuth 2.0 RFC 8693 §4.2 and the common `scp` array).
//
// Thread safety: built once before the I/O threads start, read-only afterwards.
#ifndef JWTGATE_DAEMON_ROUTES_H_
#define JWTGATE_DAEMON_ROUTES_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/config.h"
#include "jwtgate/claims.h"
#include "jwtgate/status.h"

namespace jwtgate::daemon {

inline constexpr size_t kMaxRoutes = 4096;
inline constexpr int kNoRoute = -1;

// Whether `prefix` (non-empty, starting with '/') is `path` or a whole-segment prefix of it:
// "/admin" matches "/admin" and "/admin/x", not "/administrator"; a prefix ending in '/'
// matches what lies below it. (Routes, and auth.path_prefix for the auth endpoint itself.)
inline bool PrefixMatches(std::string_view prefix, std::string_view path) noexcept {
  if (!path.starts_with(prefix)) return false;
  return prefix.back() == '/' || path.size() == prefix.size() || path[prefix.size()] == '/';
}

// Writes the normalised path of `uri` (see above) into `*out`. False when it cannot be matched
// safely; `*out` then holds what was normalised so far (for messages) or is empty.
bool NormalizeRoutePath(std::string_view uri, std::string* out);

// The claims captured from every verified token, by path (top-level name or JSON pointer):
// those of the claim headers, of the routes' `claims` requirements, and aud/scope/scp when a
// route needs them. Add() deduplicates; an index never changes once given.
class ClaimCaptures {
 public:
  size_t Add(std::string_view path);
  const std::vector<std::string>& paths() const noexcept { return paths_; }

 private:
  std::vector<std::string> paths_;
};

class RouteTable {
 public:
  RouteTable() = default;
  // Routes in config order; their claims are added to `captures`.
  RouteTable(const std::vector<RouteConfig>& routes, bool default_deny, ClaimCaptures* captures);

  // False when there are no routes and no default deny: requests are not routed at all.
  bool enabled() const noexcept { return !routes_.empty() || default_deny_; }

  // The first route for `method` and the normalised `path`, or kNoRoute.
  int Match(std::string_view method, std::string_view path) const noexcept;

  // True when the request is refused whatever its token: a deny route, or no route with
  // routes_default: deny.
  bool DeniesOutright(int route) const noexcept;

  // kOk, or the first requirement of `route` the verified token fails (kRouteIssuerNotAllowed,
  // kRouteAudienceNotAllowed, kRouteScopeMissing, kRouteClaimNotAccepted). `claims` is the
  // token's captures, indexed as `captures` was when the table was built.
  Status Check(int route, std::string_view iss,
               const std::vector<ClaimValue>& claims) const noexcept;

  // The route's name for the decision log ("" for kNoRoute).
  std::string_view name(int route) const noexcept;
  // The route's scopes (scopes_all, then scopes_any), space-separated, for the
  // WWW-Authenticate `scope` attribute of a 403 (RFC 6750 §3); "" when it requires none.
  std::string_view scope_hint(int route) const noexcept;

  size_t size() const noexcept { return routes_.size(); }

 private:
  static constexpr size_t kUnused = static_cast<size_t>(-1);
  struct Route {
    std::string name;
    std::string prefix;
    std::vector<std::string> methods;
    bool deny = false;
    std::vector<std::string> issuers, audiences, scopes_all, scopes_any;
    std::vector<std::pair<size_t, std::vector<std::string>>> claims;  // capture -> accepted
    std::string scope_hint;
  };

  bool Granted(const std::vector<ClaimValue>& claims, std::string_view scope) const noexcept;

  std::vector<Route> routes_;
  bool default_deny_ = false;
  size_t aud_ = kUnused, scope_ = kUnused, scp_ = kUnused;  // capture indexes
};

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_ROUTES_H_
