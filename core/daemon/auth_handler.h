// AuthHandler: the auth endpoint of one I/O thread, the answer a reverse proxy asks for
// (nginx auth_request, Envoy ext_authz HTTP, Traefik ForwardAuth, Caddy forward_auth).
//
//   any method, path under auth.path_prefix
//   no bearer credential            -> 401  WWW-Authenticate: Bearer realm="R"
//   several Authorization fields,
//   or a garbled Bearer credential  -> 401  ... error="invalid_request", error_description=..
//   token                           -> verdict (below)
//       ok                          -> 200  X-Auth-Sub, X-Auth-Iss, configured claim headers
//       rejected (status s)         -> 401  ... error="invalid_token", error_description="s"
//       overloaded, shutting down,
//       internal error              -> 503  Retry-After: 1
//   path outside the prefix         -> 404
// Never a 2xx on an error; never a 400 for a token problem (nginx turns a 400 into a 500).
// Identity headers: every configured header is always present, empty when the claim is
// absent; values are percent-encoded where they hold bytes a header must not carry
// (net::AppendHeaderValue), so a claim can never inject a header line.
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
#include <memory>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/trust.h"
#include "jwtgate/cache.h"
#include "jwtgate/pipeline.h"
#include "jwtgate/verifier.h"
#include "net/http_server.h"

namespace jwtgate::daemon {

// What every I/O thread's handler shares: set up once, read-only afterwards except the atomics,
// which reloads publish.
struct AuthSettings {
  std::string path_prefix = "/";
  std::string realm = "jwtgate";
  std::vector<std::string> claims;         // claim names, in Pipeline extra_claims order
  std::vector<std::string> claim_headers;  // their header names
  size_t max_header_value = 4096;          // longer (encoded) values are sent empty
  Pipeline* pipeline = nullptr;
  VerifiedTokenCache* cache = nullptr;  // null: no cache
  InlineVerify inline_verify = InlineVerify::kHmac;
  // The verifier in force. Every Verifier ever published stays alive for the daemon's lifetime
  // (reloads are rare), so a raw pointer is safe to use after loading it.
  std::atomic<const Verifier*> verifier{nullptr};
  // Whether every key of `verifier` is an HMAC key (InlineVerify::kHmac applies).
  std::atomic<bool> hmac_only{false};
  // Bumped after each verifier swap. A pipeline verdict is cached only when no swap happened
  // since its token was submitted (it may have been checked with the old keys).
  std::atomic<uint64_t> generation{0};
  // With several issuers: the kid-to-issuer binding checked after verification (null with a
  // single issuer). Kept alive like the verifiers.
  std::atomic<const IssuerBinding*> binding{nullptr};
};

class AuthHandler : public net::RequestHandler {
 public:
  // REQUIRES: completion_capacity is a power of two.
  AuthHandler(const AuthSettings* settings, size_t completion_capacity);
  ~AuthHandler() override;

  // Loop thread, after HttpServer::Init: watches the completion queue.
  void Attach(net::HttpServer* server);

  void OnRequest(net::HttpServer& server, net::RequestId id, const net::HttpRequest& req,
                 std::string_view body) override;

  const AuthCounters& counters() const noexcept { return counters_; }
  const LatencyHistogram& latency() const noexcept { return latency_; }
  size_t in_flight() const noexcept { return cq_.in_flight(); }

 private:
  bool PathMatches(std::string_view path) const noexcept;
  bool VerifyHere(const Verifier& v) const noexcept;
  void DrainCompletions();
  // Applies the issuer binding to a verified token; returns the final status.
  Status CheckBinding(std::string_view token, std::string_view iss);
  void Allow(net::RequestId id, std::string_view sub, std::string_view iss,
             const std::vector<std::string>* extra);
  void Finish(net::RequestId id, Status status, const VerifiedToken* token);
  void AnswerStatic(net::RequestId id, size_t reason, const std::string& head);

  const AuthSettings* settings_;
  net::HttpServer* server_ = nullptr;
  CompletionQueue cq_;
  std::vector<Completion> batch_;
  VerifyContext ctx_;               // inline verification
  std::vector<std::string> extra_;  // scratch: claim values of an inline verification
  AuthCounters counters_;
  LatencyHistogram latency_;
  std::string kid_;  // scratch for the issuer binding check
  // Precomputed response heads.
  std::string missing_head_, duplicate_head_, malformed_head_, unavailable_head_, not_found_head_,
      deny_prefix_;
};

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_AUTH_HANDLER_H_
