// AdminHandler: the admin listener (loopback by default), served on the daemon's main thread.
//
//   GET  /livez    200 "ok" while the process serves requests at all (no dependency checks)
//   GET  /readyz   200 "ok", or 503 with the reason (starting, draining); ?verbose lists checks
//   GET  /metrics  Prometheus text exposition 0.0.4
//   POST /revoke   {"jti": "..." [, "iss": "..."] [, "exp": N]}    revoke one token by its jti,
//                                                   within `iss` (else under every issuer);
//                                                   `exp` (the token's, if known) only says
//                                                   how long to keep the entry: without it,
//                                                   revocation.jti_retention_seconds
//                  {"sub": "...", "not_before": T [, "iss": "..."]} revoke a subject's tokens
//                                                                    issued at or before T
//                  answered 200 only once the revocation is durable (fdatasync'ed), with
//                  {"revoked":true[,"kept_until":T|null]} (null: for ever); the admin thread
//                  keeps serving while the disk works, and concurrent revocations share an
//                  fdatasync. 400 for a malformed request, or an `exp` that has already passed
//                  (a token with that exp is rejected as expired: nothing would be revoked).
//   POST /reload   re-read the configuration and keys; 200, or 500 keeping the old ones
// With admin.token_file set, POST endpoints need `Authorization: Bearer <token>` (401
// otherwise). GET /livez and /readyz stay open (probes carry no token); GET /metrics stays
// open for scrapers unless admin.protect_metrics is set, then it needs the token as well
// (Prometheus: `authorization: {credentials_file: ...}`).
#ifndef JWTGATE_DAEMON_ADMIN_HANDLER_H_
#define JWTGATE_DAEMON_ADMIN_HANDLER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "jwtgate/status.h"
#include "net/http_server.h"

namespace jwtgate::daemon {

struct RevokeRequest {
  enum class Kind { kJti, kSubject };
  Kind kind = Kind::kJti;
  std::string id;   // jti or sub
  std::string iss;  // restrict to this issuer (empty: every issuer)
  bool has_value = false;
  int64_t value = 0;  // the token's exp (jti, optional), or the not_before watermark
};

// The outcome of a revocation.
struct RevokeReply {
  Status status = Status::kOk;
  std::string message;     // why, when status is not kOk
  bool jti = false;        // a jti revocation:
  int64_t kept_until = 0;  //   kept until then (RevocationStore::kNoExp: for ever)
  // With revocation.replication: whether the revocation is in the shared stream (false: in
  // effect on this node and kept in its outbox until Redis takes it; answered 202).
  bool replication = false;
  bool replicated = false;
};

// The message of Revoke's kInternalError when the daemon has no revocation state (501).
inline constexpr char kRevocationNotConfigured[] = "revocation is not configured";

// Parses a /revoke body. Unknown members, wrong types and mixed forms are errors.
bool ParseRevokeRequest(std::string_view body, RevokeRequest* out, std::string* error);

// What the admin API asks of the daemon. Main thread.
class AdminApi {
 public:
  virtual ~AdminApi() = default;
  virtual bool Ready(std::string* detail) = 0;
  virtual std::string RenderMetrics() = 0;
  virtual bool Reload(std::string* message) = 0;
  // The outcome of a revocation: kOk once durable; kInternalError (`message` says why) or a
  // validation status (kExpired: the given exp has passed) otherwise.
  using RevokeDone = std::function<void(const RevokeReply& reply)>;
  // Calls `done` exactly once on the admin thread: during this call when the request is
  // refused at once, else once the revocation is durable. Never blocks on the disk, so that
  // many revocations in flight share one fdatasync and probes are answered meanwhile.
  virtual void Revoke(const RevokeRequest& request, RevokeDone done) = 0;
  // True when no admin token is configured or `presented` equals it.
  virtual bool AdminTokenAccepts(bool present, std::string_view presented) = 0;
  // True when GET /metrics needs the admin token too (admin.protect_metrics).
  virtual bool MetricsNeedToken() = 0;
};

class AdminHandler : public net::RequestHandler {
 public:
  explicit AdminHandler(AdminApi* api) : api_(api) {}
  void OnRequest(net::HttpServer& server, net::RequestId id, const net::HttpRequest& req,
                 std::string_view body) override;

 private:
  AdminApi* api_;
};

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_ADMIN_HANDLER_H_
