// RemoteKeys: the verification keys of one issuer, fetched from the issuer and kept current.
//
// Identity providers rotate their signing keys and publish them as a JWKS (RFC 7517) at a URL,
// found through OpenID Connect discovery (`<issuer>/.well-known/openid-configuration`, its
// `jwks_uri`) or configured directly. A RemoteKeys owns the current KeySet of one issuer and
// replaces it atomically: readers (Current) never lock and never see a half-built set, and old
// sets are released once their last reader lets go.
//
// What it gets right, and the rule behind each:
//  - Fetching happens on a background thread (libcurl), never on a request path: https only
//    (http only to a loopback host, and only when allowed), the certificate verified (system
//    CAs or `ca_file`), one total timeout, a size cap, no redirect to another host, ETag and
//    If-None-Match so an unchanged set costs a 304.
//  - Discovery: the document's `issuer` must equal the configured issuer byte for byte
//    (OpenID Connect Discovery 1.0 §4.3), else it is refused (kIssuerMismatch).
//  - Freshness: Cache-Control max-age is honoured but clamped to [refresh_min, refresh_max]
//    (a missing max-age counts as refresh_max). The next refresh is due at 9/10 of that, so
//    a set is refreshed ahead of its expiry. The defaults (1 min, 1 h): an IdP that rotates
//    announces the new key in its JWKS well before signing with it, so an hour catches every
//    planned rotation; under a minute would only load the IdP. Unplanned rotations are what
//    the unknown-kid refetch is for.
//  - Unknown kid: a token naming a kid this set lacks may mean the IdP rotated. OnUnknownKid
//    asks for one refetch, single-flight (every caller joins the same fetch), after which
//    further unknown kids are refused at once for `unknown_kid_cooldown` (they are not queued),
//    so tokens with random kids cannot make the issuer's server a target.
//  - Failure: the last good set is kept, never cleared; fetches are retried with exponential
//    backoff (1 s doubling, jittered ±20%, capped at refresh_min). Once no fetch has
//    succeeded for `max_stale`, the snapshot is marked stale: the keys stay for naming the
//    failure, and a token they would verify is refused with kIssuerKeysStale (fail closed).
//    The last good set is written to `cache_dir` (atomically: temporary file, fsync, rename),
//    so a restart while the IdP is down still serves, with the staleness clock of the set.
//  - A fetched set that fails validation (a key refused by the importer: private material,
//    RSA under 2048 bits, a bad point; an `oct` key, since a secret published in a JWKS is no
//    secret; no keys at all; or the caller's `validate` hook, e.g. a kid another issuer uses)
//    is refused whole and the previous set is kept (kInvalid). Keys carry `issuer`
//    (JwksOptions::issuer): a token they verify must carry exactly that `iss`.
//
// Thread safety: every member function may be called from any thread, except that the hooks
// (on_change, validate, log, OnUnknownKid's `done`) run on the fetch thread and must not call
// Stop or destroy the RemoteKeys. Lifetime: the destructor stops the thread; pending `done`
// callbacks are called with `changed = false` before it returns.
#ifndef JWTGATE_KEY_SOURCE_H_
#define JWTGATE_KEY_SOURCE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "jwtgate/alg.h"
#include "jwtgate/keys.h"
#include "jwtgate/named_enum.h"

namespace jwtgate {

// How a fetch ended. Names are metric label values: never rename one, only add.
#define JWTGATE_FETCH_OUTCOME_LIST(X)                                               \
  X(kUpdated, "updated")                /* 200, a new set published */              \
  X(kUnchanged, "unchanged")            /* 200, the same document */                \
  X(kNotModified, "not_modified")       /* 304 */                                   \
  X(kInvalid, "invalid")                /* document or a key refused */             \
  X(kTooLarge, "too_large")             /* over max_bytes */                        \
  X(kHttpError, "http_error")           /* a status other than 200 or 304 */        \
  X(kRedirect, "redirect")              /* a redirect refused */                    \
  X(kTimeout, "timeout")                /* no complete answer within the timeout */ \
  X(kNetworkError, "network_error")     /* connect, TLS, certificate */             \
  X(kIssuerMismatch, "issuer_mismatch") /* discovery names another issuer */

enum class FetchOutcome : uint8_t { JWTGATE_FETCH_OUTCOME_LIST(JWTGATE_ENUMERATOR) };

inline constexpr std::string_view kFetchOutcomeNames[] = {
    JWTGATE_FETCH_OUTCOME_LIST(JWTGATE_ENUM_NAME)};
inline constexpr size_t kFetchOutcomeCount = std::size(kFetchOutcomeNames);

constexpr std::string_view ToString(FetchOutcome o) noexcept {
  return internal::EnumName(o, kFetchOutcomeNames, "unknown");
}

// True for the outcomes that confirm the held set is current.
constexpr bool IsSuccess(FetchOutcome o) noexcept {
  return o == FetchOutcome::kUpdated || o == FetchOutcome::kUnchanged ||
         o == FetchOutcome::kNotModified;
}

struct RemoteKeysOptions {
  // The exact `iss` of the tokens these keys sign; the keys are bound to it. Required.
  std::string issuer;
  // Where the JWKS is: `jwks_uri`, or with `discovery` the `jwks_uri` of the issuer's
  // OpenID configuration (`issuer` without a trailing '/', then
  // "/.well-known/openid-configuration"). Exactly one of the two.
  std::string jwks_uri;
  bool discovery = false;
  // PEM file of the CA certificates to trust for this issuer (a private PKI); "": the
  // system's store.
  std::string ca_file;
  // Allows http:// URLs to a loopback host (a sidecar IdP). Never to another host.
  bool allow_http = false;
  std::chrono::seconds refresh_min{60};
  std::chrono::seconds refresh_max{3600};
  std::chrono::seconds unknown_kid_cooldown{30};
  // Fail closed once no fetch has succeeded for this long. Must exceed refresh_max.
  std::chrono::seconds max_stale{86400};
  std::chrono::milliseconds fetch_timeout{5000};
  size_t max_bytes = 1 << 20;
  // As in JwksOptions.
  std::optional<Alg> default_alg;
  bool skip_unsupported = false;
  // Directory for the last good set ("": none). Created (0755) when missing; a directory
  // writable by others is refused (anyone could plant keys there).
  std::string cache_dir;
  // Callers that may wait on one unknown-kid refetch; more are refused at once.
  size_t max_kid_waiters = 4096;

  // Hooks (may be empty). validate: called with a fetched set before it is published; false
  // refuses it (kInvalid, previous set kept) with *why. on_change: after Current() changed
  // (a new set, or the stale mark set or cleared). log: one line per event worth an
  // operator's attention (a failed fetch, an update, a refusal); `warning` for failures.
  std::function<bool(const KeySet& keys, std::string* why)> validate;
  std::function<void()> on_change;
  std::function<void(bool warning, const std::string& line)> log;
};

class RemoteKeys {
 public:
  // What Current() returns: immutable.
  struct Snapshot {
    std::shared_ptr<const KeySet> keys;  // null until a first set (network or cache dir)
    std::string jwks;                    // the document `keys` was built from
    bool stale = false;                  // no fetch has succeeded for max_stale: fail closed
    bool from_cache = false;             // loaded from cache_dir, not confirmed by a fetch since
    uint64_t version = 0;                // increases with every publication
  };

  struct Stats {
    uint64_t fetches[kFetchOutcomeCount] = {};
    uint64_t unknown_kid_refetches = 0;  // fetches started for an unknown kid
    uint64_t cooldown_rejections = 0;    // unknown kids refused during the cooldown
    int64_t confirmed_at = 0;  // unix seconds of the last success (or of the cached set); 0: never
    size_t keys = 0;
    bool stale = false;
    bool from_cache = false;
  };

  // Checks the options (URLs, bounds, the cache directory) and loads a cached set if there is
  // one for this issuer and source. Starts nothing. On failure returns null and a message
  // that names the option.
  static std::unique_ptr<RemoteKeys> Create(RemoteKeysOptions options, std::string* error);
  ~RemoteKeys();
  RemoteKeys(const RemoteKeys&) = delete;
  RemoteKeys& operator=(const RemoteKeys&) = delete;

  // Starts the background thread: a first fetch at once, then refreshes.
  void Start();

  // One fetch on the calling thread, now (for a one-shot use such as a command-line check,
  // before or without Start). Returns the outcome; on a failure, `*error` says what failed.
  FetchOutcome FetchNow(std::string* error);

  // The set in force. Lock-free: an acquire load inside an epoch read section and a
  // reference-count increment. Never null (an empty Snapshot before the first set).
  std::shared_ptr<const Snapshot> Current() const;

  // A token named a kid the current set lacks. kWaiting: a refetch is (or was already) under
  // way; `done(changed)` is called on the fetch thread when it ends (`changed`: a new set was
  // published). kCoolingDown: refused at once (a refetch for an unknown kid ended less than
  // unknown_kid_cooldown ago, or too many callers wait already); `done` is not called.
  enum class KidRefetch : uint8_t { kWaiting, kCoolingDown };
  KidRefetch OnUnknownKid(std::function<void(bool changed)> done);
  // The same, blocking for at most `max_wait`: true when a refetch published a new set.
  bool WaitForUnknownKid(std::chrono::milliseconds max_wait);

  Stats stats() const;
  const RemoteKeysOptions& options() const noexcept;

 private:
  struct Rep;
  explicit RemoteKeys(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace jwtgate

#endif  // JWTGATE_KEY_SOURCE_H_
