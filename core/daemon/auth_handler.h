// AuthHandler: the auth endpoint of one I/O thread, the answer a reverse proxy asks for
// (nginx auth_request, Envoy ext_authz HTTP, Traefik ForwardAuth, Caddy forward_auth).
//
//   any method, path under auth.path_prefix
//   the route (daemon/routes.h) refuses every request, or the forwarded URI
//   cannot be matched safely        -> 403  ... error="insufficient_scope" (or "invalid_request"),
//                                           error_description="route_denied" ("route_uri_invalid")
//   no bearer credential            -> 401  WWW-Authenticate: Bearer realm="R"
//   several Authorization fields,
//   or a garbled Bearer credential  -> 401  ... error="invalid_request", error_description=..
//   token                           -> verdict (below)
//       ok, and the route's
//       requirements met            -> 200  X-Auth-Sub, X-Auth-Iss, configured claim headers
//       ok, a requirement not met   -> 403  ... error="insufficient_scope",
//                                           error_description="route_scope_missing" (etc.)
//                                           [, scope="the route's scopes"]  (RFC 6750 §3.1)
//       rejected (status s)         -> 401  ... error="invalid_token", error_description="s"
//       overloaded, shutting down,
//       internal error, the issuer's
//       keys stale (fail closed)    -> 503  Retry-After: 1
//   unknown kid of a remote issuer  -> waits for that issuer's refetch (shared, bounded by the
//                                      fetch timeout), then verified again with the new keys
//   path outside the prefix         -> 404
// Never a 2xx on an error; never a 400 for a token problem (nginx turns a 400 into a 500).
// Identity headers: every configured header is always present, empty when the claim is
// absent (or an object); an array's elements are joined with auth.claim_header_separator;
// values are percent-encoded where they hold bytes a header must not carry
// (net::AppendHeaderValue), so a claim can never inject a header line.
// Every answer but a 404 is a decision the decision log (daemon/decision_log.h) may record.
//
// Where the verdict comes from. A token seen before is answered from the verified-token cache on
// the I/O thread (a hash, a probe, the exp and revocation re-check): no thread hop. Otherwise the
// token is verified on the I/O thread when that is cheaper than a hop (InlineVerify: HMAC keys),
// or handed to the pipeline (Pipeline::Submit), whose workers spread signature checks over the
// cores; the answer is written when the completion comes back. The token is never copied on
// the way: it stays in the receive buffer (pinned) until its answer is written.
//
// Loop thread only, except the counters, which the metrics exporter reads.
#ifndef JWTGATE_DAEMON_AUTH_HANDLER_H_
#define JWTGATE_DAEMON_AUTH_HANDLER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/config.h"
#include "daemon/decision_log.h"
#include "daemon/metrics.h"
#include "daemon/routes.h"
#include "jwtgate/cache.h"
#include "jwtgate/pipeline.h"
#include "jwtgate/verifier.h"
#include "jwtgate/verifier_cell.h"
#include "net/http_server.h"
#include "replicate/replicator.h"

namespace jwtgate::daemon {

// Where a token whose kid is unknown goes: the daemon routes it to the remote issuer it claims
// (the issuer may have rotated its keys) for one shared refetch.
class UnknownKidRouter {
 public:
  virtual ~UnknownKidRouter() = default;
  // True when a refetch will call `done(changed)` (on another thread) for this token; false
  // when the token is to be answered unknown_kid now (no remote issuer claimed, or its refetch
  // is cooling down).
  virtual bool Refetch(std::string_view token, std::function<void(bool changed)> done) = 0;
};

// What every I/O thread's handler shares: set up once, read-only afterwards except the atomics,
// which reloads and key updates publish.
struct AuthSettings {
  std::string path_prefix = "/";
  std::string realm = "jwtgate";
  // The claims captured from every verified token (ClaimCaptures::paths(), also the
  // pipeline's extra_claims): the claim headers' and the routes'.
  std::vector<std::string> claims;
  std::vector<std::string> claim_headers;         // header names
  std::vector<size_t> header_claims;              // per header: its claim's index in `claims`
  std::string header_separator = ",";             // joins an array claim's elements
  size_t max_header_value = 4096;                 // longer (encoded) values are sent empty
  RouteTable routes;                              // not enabled(): requests are not routed
  RouteSource route_source = RouteSource::kAuto;  // where the client's URI and method are read
  DecisionLog* decision_log = nullptr;            // null: off
  Pipeline* pipeline = nullptr;
  VerifiedTokenCache* cache = nullptr;  // null: no cache
  InlineVerify inline_verify = InlineVerify::kHmac;
  // The verifier in force (swapped by reloads and key updates; read in a VerifierCell::Reader).
  const VerifierCell* verifier = nullptr;
  // Whether every key of `verifier` is an HMAC key (InlineVerify::kHmac applies).
  std::atomic<bool> hmac_only{false};
  // Bumped after each verifier swap. A pipeline verdict is cached only when no swap happened
  // since its token was submitted (it may have been checked with the old keys).
  std::atomic<uint64_t> generation{0};
  // Null: an unknown kid is answered at once.
  UnknownKidRouter* unknown_kid = nullptr;
  // With revocation.replication: while stale() (cut off from the fleet's revocations past the
  // bound, fail_closed), every token is answered 503 revocation_stale. Set before the
  // replicator starts, cleared before it is destroyed.
  std::atomic<const replicate::Replicator*> replicator{nullptr};
  // Requests one I/O thread keeps waiting for unknown-kid refetches; more are answered at once.
  size_t max_parked = 4096;
};

class AuthHandler : public net::RequestHandler {
 public:
  // REQUIRES: completion_capacity is a power of two. `index`: this I/O thread's number (its
  // decision log writer).
  AuthHandler(const AuthSettings* settings, size_t completion_capacity, unsigned index = 0);
  ~AuthHandler() override;

  // Loop thread, after HttpServer::Init: watches the completion queue.
  void Attach(net::HttpServer* server);

  void OnRequest(net::HttpServer& server, net::RequestId id, const net::HttpRequest& req,
                 std::string_view body) override;

  const AuthCounters& counters() const noexcept { return counters_; }
  const LatencyHistogram& latency() const noexcept { return latency_; }
  size_t in_flight() const noexcept { return cq_.in_flight(); }

 private:
  // A request waiting for an unknown-kid refetch; `state` is set by the fetch thread
  // (kWaiting, then kChanged or kUnchanged: the refetch ended) before it signals wake_fd_.
  enum ParkState : int { kWaiting = 0, kChanged = 1, kUnchanged = 2 };
  struct Parked {
    net::RequestId id;
    std::string_view token;  // pinned
    int route;
    std::shared_ptr<std::atomic<int>> state;
  };
  // What the answer to a request depends on besides its token. The views are valid during
  // OnRequest, or while the request's LogNote lives.
  struct RequestInfo {
    int route = kNoRoute;
    std::string_view method;    // for the decision log
    std::string_view trace_id;  // ditto; "" : none
  };
  // RequestInfo's views, kept for a request answered later (only with the decision log on).
  struct LogNote {
    char method[16];
    uint8_t method_len = 0;
    char trace_id[32];
    bool has_trace = false;
  };
  // Who a verified token names: from a cache entry, or from an inline verification.
  struct Identity {
    std::string_view sub, iss, kid;
    Alg alg = Alg::kHS256;
    const std::vector<ClaimValue>* claims = nullptr;
    bool cached = false;
  };

  bool PathMatches(std::string_view path) const noexcept;
  bool VerifyHere() const noexcept;
  // Finds the request's route; false when the request was answered (403) here.
  bool Route(net::RequestId id, const net::HttpRequest& req, RequestInfo* info);
  // Verifies `token` (pinned when it will outlive this call) here or in the pipeline, and
  // answers. `retried`: after an unknown-kid refetch (never parked twice).
  void Dispatch(net::RequestId id, std::string_view token, bool retried, const RequestInfo& info);
  void DrainCompletions();
  // The RequestInfo of a request answered later (its route travels in the tag or the parking).
  RequestInfo InfoOf(net::RequestId id, int route) const;
  // Answers a verdict, or parks the request when its kid was unknown and a refetch may help.
  void Verdict(net::RequestId id, Status status, const VerifiedToken* token,
               std::string_view token_text, bool retried, const RequestInfo& info);
  bool Park(net::RequestId id, std::string_view token, const RequestInfo& info);
  void OnRefetched();
  void Finish(net::RequestId id, Status status, const VerifiedToken* token, bool cached,
              const RequestInfo& info);
  // The route's requirements, then 200 with the identity headers (or 403).
  void Allow(net::RequestId id, const Identity& who, const RequestInfo& info);
  void Forbid(net::RequestId id, Status status, const Identity* who, const RequestInfo& info);
  void AnswerStatic(net::RequestId id, size_t reason, int http_status, const std::string& head,
                    const RequestInfo& info);
  // Decision log on: keeps `info`'s views for a request answered later.
  void KeepNote(net::RequestId id, const RequestInfo& info);
  // Counts the answer and hands it to the server; records it in the decision log.
  void Done(net::RequestId id, size_t reason, int http_status, const Identity* who,
            const RequestInfo& info);
  void LogDecision(net::RequestId id, size_t reason, int http_status, const Identity* who,
                   const RequestInfo& info);
  void AppendClaimHeader(const ClaimValue& value, std::string* head);

  const AuthSettings* settings_;
  net::HttpServer* server_ = nullptr;
  CompletionQueue cq_;
  std::vector<Completion> batch_;
  VerifyContext ctx_;              // inline verification
  std::vector<ClaimValue> extra_;  // scratch: claims of an inline verification
  std::string path_;               // scratch: the normalised path of a routed request
  std::string joined_;             // scratch: an array claim joined for its header
  std::string element_;            // scratch: one element of it
  DecisionLog::Writer* log_ = nullptr;
  std::unordered_map<net::RequestId, LogNote> notes_;  // decision log on: answered later
  AuthCounters counters_;
  LatencyHistogram latency_;
  std::vector<Parked> parked_;
  int wake_fd_ = -1;  // eventfd: a refetch some parked request waits for has ended
  // Precomputed response heads.
  std::string missing_head_, duplicate_head_, malformed_head_, unavailable_head_, not_found_head_,
      deny_prefix_, forbid_prefix_, uri_invalid_head_;
};

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_AUTH_HANDLER_H_
