// HttpFetch: one HTTPS GET of a small document (an OpenID discovery document, a JWKS) with
// libcurl, under the rules a key fetch needs:
//  - https only; http only when allowed and the host is a loopback address (127.0.0.0/8,
//    ::1, "localhost"): a key set fetched in clear text from the network could be anyone's.
//  - the server's certificate verified (system CAs, or `ca_file` for a private PKI);
//  - one total timeout for the whole exchange (connect, TLS, headers, body);
//  - a response-size cap, enforced while the body arrives (Content-Length is not trusted);
//  - redirects followed only to the same scheme, host and port, at most 3 of them;
//  - If-None-Match with the last ETag, so an unchanged document costs a 304.
// Blocking: call it from a background thread, never from a request path. Thread-safe (no
// shared state beyond libcurl's global initialization, done once).
#ifndef JWTGATE_KEYS_HTTP_FETCH_H_
#define JWTGATE_KEYS_HTTP_FETCH_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "jwtgate/key_source.h"

namespace jwtgate::keys {

struct FetchRequest {
  std::string url;
  std::string ca_file;  // empty: the system's CA store
  bool allow_http = false;
  std::chrono::milliseconds timeout{5000};
  size_t max_bytes = 1 << 20;
  std::string if_none_match;  // the ETag of the document held, or ""
};

struct FetchResponse {
  // kUpdated here only means "200 with a body" (the caller decides whether it is new);
  // kNotModified a 304; the failure outcomes as in FetchOutcome.
  FetchOutcome outcome = FetchOutcome::kNetworkError;
  long http_status = 0;
  std::string body;
  std::string etag;
  std::optional<int64_t> max_age_s;  // Cache-Control: max-age; no-cache/no-store give 0
  std::string error;                 // for a failure: what went wrong, with the URL
};

// Checks a URL against the scheme rules above. On failure returns false and says why
// ("http:// is allowed only to a loopback host").
bool CheckUrl(std::string_view url, bool allow_http, std::string* error);

// The URL's "scheme://host:port" (for the same-origin rule of redirects), or "" when it does
// not parse.
std::string OriginOf(std::string_view url);

FetchResponse HttpFetch(const FetchRequest& request);

// Cache-Control: the max-age in seconds, 0 for no-cache or no-store, nullopt when neither.
std::optional<int64_t> ParseCacheControlMaxAge(std::string_view value);

}  // namespace jwtgate::keys

#endif  // JWTGATE_KEYS_HTTP_FETCH_H_
