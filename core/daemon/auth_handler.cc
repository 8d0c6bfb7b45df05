#include "daemon/auth_handler.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "base/eventfd.h"
#include "jwtgate/alg.h"
#include "net/http_fields.h"

namespace jwtgate::daemon {
namespace {

constexpr size_t kCompletionBatch = 256;
// A pipeline request's tag: the verifier generation it was submitted under (bits 0-47), its
// route + 1 (bits 48-62; 0: none) and whether it is a retry after an unknown-kid refetch (63).
constexpr uint64_t kRetriedTag = uint64_t{1} << 63;
constexpr int kRouteShift = 48;
constexpr uint64_t kGenerationMask = (uint64_t{1} << kRouteShift) - 1;
static_assert(kMaxRoutes < (size_t{1} << (63 - kRouteShift)));

uint64_t MakeTag(uint64_t generation, int route, bool retried) noexcept {
  return (generation & kGenerationMask) | (static_cast<uint64_t>(route + 1) << kRouteShift) |
         (retried ? kRetriedTag : 0);
}
int RouteOfTag(uint64_t tag) noexcept {
  return static_cast<int>((tag & ~kRetriedTag) >> kRouteShift) - 1;
}

int64_t MonotonicNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t UnixSeconds() noexcept {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec);
}

}  // namespace

AuthHandler::AuthHandler(const AuthSettings* settings, size_t completion_capacity, unsigned index)
    : settings_(settings), cq_(completion_capacity, /*signal=*/true) {
  batch_.resize(kCompletionBatch);
  if (settings->decision_log != nullptr) log_ = settings->decision_log->writer(index);
  const std::string challenge = "WWW-Authenticate: Bearer realm=\"" + settings->realm + "\"";
  const std::string common = "Cache-Control: no-store\r\n";
  missing_head_ = "HTTP/1.1 401 Unauthorized\r\n" + common + challenge + "\r\n";
  duplicate_head_ =
      "HTTP/1.1 401 Unauthorized\r\n" + common + challenge +
      ", error=\"invalid_request\", error_description=\"authorization_duplicate\"\r\n";
  malformed_head_ =
      "HTTP/1.1 401 Unauthorized\r\n" + common + challenge +
      ", error=\"invalid_request\", error_description=\"authorization_malformed\"\r\n";
  unavailable_head_ = "HTTP/1.1 503 Service Unavailable\r\n" + common + "Retry-After: 1\r\n";
  not_found_head_ = "HTTP/1.1 404 Not Found\r\n" + common;
  deny_prefix_ = "HTTP/1.1 401 Unauthorized\r\n" + common + challenge +
                 ", error=\"invalid_token\", error_description=\"";
  forbid_prefix_ = "HTTP/1.1 403 Forbidden\r\n" + common + challenge +
                   ", error=\"insufficient_scope\", error_description=\"";
  uri_invalid_head_ = "HTTP/1.1 403 Forbidden\r\n" + common + challenge +
                      ", error=\"invalid_request\", error_description=\"" +
                      std::string(ToString(Status::kRouteUriInvalid)) + "\"\r\n";
}

AuthHandler::~AuthHandler() {
  if (log_ != nullptr) log_->Flush();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void AuthHandler::Attach(net::HttpServer* server) {
  server_ = server;
  server->WatchFd(cq_.event_fd(), [this] { DrainCompletions(); });
  if (settings_->unknown_kid != nullptr) {
    wake_fd_ = base::OpenEventFd();
    if (wake_fd_ >= 0) server->WatchFd(wake_fd_, [this] { OnRefetched(); });
  }
  // Also poll at the end of every iteration: completions that arrived while the loop was busy
  // are answered in the same batch of sends. The decision log's lines of the iteration are
  // written then too, in one write().
  server->SetIterationHook([this] {
    if (cq_.in_flight() != 0) DrainCompletions();
    if (log_ != nullptr) log_->Flush();
  });
}

bool AuthHandler::PathMatches(std::string_view path) const noexcept {
  return PrefixMatches(settings_->path_prefix, path);
}

bool AuthHandler::VerifyHere() const noexcept {
  switch (settings_->inline_verify) {
    case InlineVerify::kAll:
      return true;
    case InlineVerify::kHmac:
      return settings_->hmac_only.load(std::memory_order_relaxed);
    case InlineVerify::kNone:
      return false;
  }
  return false;
}

void AuthHandler::AnswerStatic(net::RequestId id, size_t reason, int http_status,
                               const std::string& head, const RequestInfo& info) {
  server_->ResponseHead(id)->assign(head);
  Done(id, reason, http_status, nullptr, info);
}

void AuthHandler::KeepNote(net::RequestId id, const RequestInfo& info) {
  if (log_ == nullptr) return;
  // The views die with OnRequest; the decision log needs them when the answer comes.
  const auto [it, fresh] = notes_.try_emplace(id);
  if (!fresh) return;
  LogNote& note = it->second;
  note.method_len = static_cast<uint8_t>(std::min(info.method.size(), sizeof note.method));
  std::memcpy(note.method, info.method.data(), note.method_len);
  note.has_trace = !info.trace_id.empty();
  if (note.has_trace) std::memcpy(note.trace_id, info.trace_id.data(), sizeof note.trace_id);
}

bool AuthHandler::Route(net::RequestId id, const net::HttpRequest& req, RequestInfo* info) {
  // What the client asked the proxy for (daemon/routes.h). A header the proxy sets must be
  // there once: two of them, or both families under route_source auto, mean that a client's
  // header came through beside the proxy's, and which one is the proxy's cannot be told.
  size_t n_original = 0, n_forwarded = 0;
  const net::HttpHeader* original = req.Find("X-Original-URI", &n_original);
  const net::HttpHeader* forwarded = req.Find("X-Forwarded-Uri", &n_forwarded);
  RouteSource source = settings_->route_source;
  bool ambiguous = false;
  if (source == RouteSource::kAuto) {
    ambiguous = original != nullptr && forwarded != nullptr;
    source = original != nullptr    ? RouteSource::kOriginal
             : forwarded != nullptr ? RouteSource::kForwarded
                                    : RouteSource::kPath;
  }
  std::string_view uri, method = req.method;
  const char* method_header = nullptr;
  switch (source) {
    case RouteSource::kOriginal:
      ambiguous = ambiguous || n_original != 1;
      if (original != nullptr) uri = original->value;
      method_header = "X-Original-Method";
      break;
    case RouteSource::kForwarded:
      ambiguous = ambiguous || n_forwarded != 1;
      if (forwarded != nullptr) uri = forwarded->value;
      method_header = "X-Forwarded-Method";
      break;
    case RouteSource::kAuto:
    case RouteSource::kPath: {
      // Envoy: the original path appended to the prefix; the prefix alone is "/".
      const std::string& p = settings_->path_prefix;
      uri = req.target.substr(p.back() == '/' ? p.size() - 1 : p.size());
      if (uri.empty() || uri[0] == '?') uri = "/";
      break;
    }
  }
  if (method_header != nullptr) {
    size_t n_method = 0;
    if (const net::HttpHeader* m = req.Find(method_header, &n_method)) method = m->value;
    ambiguous = ambiguous || n_method > 1;
  }
  info->method = method;
  if (ambiguous || !NormalizeRoutePath(uri, &path_)) {
    AnswerStatic(id, ReasonOf(Status::kRouteUriInvalid), 403, uri_invalid_head_, *info);
    return false;
  }
  info->route = settings_->routes.Match(method, path_);
  if (settings_->routes.DeniesOutright(info->route)) {
    Forbid(id, Status::kRouteDenied, nullptr, *info);
    return false;
  }
  return true;
}

void AuthHandler::OnRequest(net::HttpServer& /*server*/, net::RequestId id,
                            const net::HttpRequest& req, std::string_view /*body*/) {
  if (!PathMatches(req.path)) {
    // Not a decision: nothing is logged.
    counters_.Count(kReasonNotFound);
    server_->ResponseHead(id)->assign(not_found_head_);
    server_->Finish(id);
    return;
  }
  RequestInfo info;
  info.method = req.method;
  if (log_ != nullptr) {
    if (const net::HttpHeader* t = req.Find("traceparent")) info.trace_id = TraceIdOf(t->value);
  }
  if (settings_->routes.enabled() && !Route(id, req, &info)) return;
  std::string_view token;
  switch (net::ExtractBearer(req, &token)) {
    case net::BearerResult::kMissing:
      AnswerStatic(id, kReasonMissing, 401, missing_head_, info);
      return;
    case net::BearerResult::kDuplicate:
      AnswerStatic(id, kReasonInvalidRequest, 401, duplicate_head_, info);
      return;
    case net::BearerResult::kMalformed:
      AnswerStatic(id, kReasonInvalidRequest, 401, malformed_head_, info);
      return;
    case net::BearerResult::kOk:
      break;
  }

  if (const replicate::Replicator* rep = settings_->replicator.load(std::memory_order_acquire);
      rep != nullptr && rep->stale()) {
    // Fail closed: this node may not know revocations the fleet has made meanwhile.
    AnswerStatic(id, ReasonOf(Status::kRevocationStale), 503, unavailable_head_, info);
    return;
  }
  Dispatch(id, token, /*retried=*/false, info);
}

void AuthHandler::Dispatch(net::RequestId id, std::string_view token, bool retried,
                           const RequestInfo& info) {
  VerifiedTokenCache* cache = settings_->cache;
  const bool here = VerifyHere();
  if (cache != nullptr || here) {
    const int64_t started = MonotonicNs();
    const int64_t now = UnixSeconds();
    // The verifier in force for this request; a swap meanwhile waits for the reader to end.
    const VerifierCell::Reader v(*settings_->verifier);
    uint64_t hash = 0;
    if (cache != nullptr) {
      hash = cache->Hash(token);
      Status st;
      const VerifiedToken* entry = nullptr;
      const VerifiedTokenCache::ReadGuard guard;
      if (cache->Find(token, hash, now, *v, &st, &entry, guard) ==
          VerifiedTokenCache::Lookup::kHit) {
        Finish(id, st, entry, /*cached=*/true, info);
        latency_.Observe(MonotonicNs() - started);
        return;
      }
    }
    if (here) {
      Claims claims;
      const Status st = v->Verify(token, now, ctx_, &claims);
      if (st != Status::kOk) {
        Verdict(id, st, nullptr, token, retried, info);
      } else {
        extra_.resize(settings_->claims.size());
        for (size_t i = 0; i < extra_.size(); ++i) ctx_.Capture(settings_->claims[i], &extra_[i]);
        if (cache != nullptr) {
          std::shared_ptr<const VerifiedToken> entry =
              VerifiedToken::From(token, hash, claims, extra_);
          cache->Insert(entry);
          Finish(id, Status::kOk, entry.get(), /*cached=*/false, info);
        } else {
          Allow(id, Identity{claims.sub, claims.iss, claims.kid, claims.alg, &extra_, false}, info);
        }
      }
      latency_.Observe(MonotonicNs() - started);
      return;
    }
  }

  const std::string_view pinned = retried ? token : server_->Pin(id, token);
  server_->SetTag(
      id, MakeTag(settings_->generation.load(std::memory_order_acquire), info.route, retried));
  KeepNote(id, info);
  const Status s = settings_->pipeline->Submit(pinned, id, &cq_);
  if (s != Status::kOk) {
    // kOverloaded or kShuttingDown: no completion follows.
    AnswerStatic(id, ReasonOf(s), 503, unavailable_head_, info);
  }
}

AuthHandler::RequestInfo AuthHandler::InfoOf(net::RequestId id, int route) const {
  RequestInfo info;
  info.route = route;
  if (log_ != nullptr) {
    if (const auto it = notes_.find(id); it != notes_.end()) {
      const LogNote& note = it->second;
      info.method = std::string_view(note.method, note.method_len);
      if (note.has_trace) info.trace_id = std::string_view(note.trace_id, sizeof note.trace_id);
    }
  }
  return info;
}

void AuthHandler::DrainCompletions() {
  VerifiedTokenCache* cache = settings_->cache;
  for (;;) {
    const size_t n = cq_.Poll(batch_.data(), batch_.size());
    if (n == 0) return;
    const int64_t now = MonotonicNs();
    for (size_t i = 0; i < n; ++i) {
      Completion& c = batch_[i];
      latency_.Observe(now - server_->DispatchTimeNs(c.ticket));
      const uint64_t tag = server_->Tag(c.ticket);
      const bool retried = (tag & kRetriedTag) != 0;
      if (c.status == Status::kOk && c.token && cache != nullptr && !retried &&
          (tag & kGenerationMask) ==
              (settings_->generation.load(std::memory_order_acquire) & kGenerationMask)) {
        // The pipeline runs without the cache (hits never reach it); remember the verdict here,
        // keyed with the cache's own seeded hash. (A retried request is never cached.)
        auto entry = std::make_shared<VerifiedToken>(*c.token);
        entry->hash = cache->Hash(entry->token);
        cache->Insert(entry);
      }
      Verdict(c.ticket, c.status, c.token.get(), c.submitted, retried,
              InfoOf(c.ticket, RouteOfTag(tag)));
      c.token.reset();
    }
    if (n < batch_.size()) return;
  }
}

void AuthHandler::Verdict(net::RequestId id, Status status, const VerifiedToken* token,
                          std::string_view token_text, bool retried, const RequestInfo& info) {
  if (status == Status::kUnknownKid && !retried && Park(id, token_text, info)) return;
  Finish(id, status, token, /*cached=*/false, info);
}

bool AuthHandler::Park(net::RequestId id, std::string_view token, const RequestInfo& info) {
  UnknownKidRouter* router = settings_->unknown_kid;
  if (router == nullptr || wake_fd_ < 0 || parked_.size() >= settings_->max_parked) return false;
  auto state = std::make_shared<std::atomic<int>>(kWaiting);
  const int fd = wake_fd_;
  // Runs on the fetch thread. The handler outlives every key source (the daemon stops them
  // first), so the eventfd is still open.
  auto done = [state, fd](bool changed) {
    // release: the loop thread that reads the state (acquire) also sees the new keys.
    state->store(changed ? kChanged : kUnchanged, std::memory_order_release);
    base::SignalEventFd(fd);
  };
  if (!router->Refetch(token, std::move(done))) return false;
  // The pipeline path pinned the token when it was submitted; an inline one is pinned here.
  const std::string_view pinned = server_->Pin(id, token);
  KeepNote(id, info);
  parked_.push_back(Parked{id, pinned, info.route, std::move(state)});
  return true;
}

void AuthHandler::OnRefetched() {
  base::DrainEventFd(wake_fd_);
  std::vector<Parked> ready;
  size_t keep = 0;
  for (Parked& p : parked_) {
    if (p.state->load(std::memory_order_acquire) == kWaiting) {
      parked_[keep++] = std::move(p);
    } else {
      ready.push_back(std::move(p));
    }
  }
  parked_.resize(keep);
  // Verified again whether or not this fetch changed the keys: the key may have arrived with
  // an earlier fetch whose trust rebuild had not been published when the token was first
  // checked. A retry is final (never parked twice).
  for (const Parked& p : ready) Dispatch(p.id, p.token, /*retried=*/true, InfoOf(p.id, p.route));
}

void AuthHandler::AppendClaimHeader(const ClaimValue& value, std::string* head) {
  const size_t max = settings_->max_header_value;
  if (value.kind != ClaimValue::Kind::kArray) {
    if (!value.items.empty()) net::AppendHeaderValue(value.items[0], max, head);
    return;
  }
  // Each element encoded on its own, with the separator's first byte percent-encoded inside
  // it, so that a role named "x,admin" never reads as two roles "x" and "admin" downstream.
  const std::string& sep = settings_->header_separator;
  joined_.clear();
  for (size_t i = 0; i < value.items.size(); ++i) {
    if (i != 0) joined_ += sep;
    if (joined_.size() > max ||
        !net::AppendHeaderValue(value.items[i], max - joined_.size(), &joined_, sep[0])) {
      return;  // too long: sent empty, never cut
    }
  }
  head->append(joined_);
}

void AuthHandler::Allow(net::RequestId id, const Identity& who, const RequestInfo& info) {
  static const std::vector<ClaimValue> kNone;
  const std::vector<ClaimValue>& claims = who.claims != nullptr ? *who.claims : kNone;
  if (info.route != kNoRoute) {
    if (const Status st = settings_->routes.Check(info.route, who.iss, claims); st != Status::kOk) {
      Forbid(id, st, &who, info);
      return;
    }
  }
  std::string* head = server_->ResponseHead(id);
  head->assign("HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nX-Auth-Sub: ");
  const size_t max = settings_->max_header_value;
  net::AppendHeaderValue(who.sub, max, head);
  head->append("\r\nX-Auth-Iss: ");
  net::AppendHeaderValue(who.iss, max, head);
  head->append("\r\n");
  const auto& names = settings_->claim_headers;
  for (size_t i = 0; i < names.size(); ++i) {
    head->append(names[i]).append(": ");
    const size_t c = settings_->header_claims[i];
    if (c < claims.size()) AppendClaimHeader(claims[c], head);
    head->append("\r\n");
  }
  Done(id, ReasonOf(Status::kOk), 200, &who, info);
}

void AuthHandler::Forbid(net::RequestId id, Status status, const Identity* who,
                         const RequestInfo& info) {
  std::string* head = server_->ResponseHead(id);
  head->assign(forbid_prefix_).append(ToString(status)).append("\"");
  const std::string_view scopes = settings_->routes.scope_hint(info.route);
  if (!scopes.empty()) head->append(", scope=\"").append(scopes).append("\"");
  head->append("\r\n");
  Done(id, ReasonOf(status), 403, who, info);
}

void AuthHandler::Finish(net::RequestId id, Status status, const VerifiedToken* token, bool cached,
                         const RequestInfo& info) {
  if (status == Status::kOk && token == nullptr) status = Status::kInternalError;
  if (status == Status::kOk) {
    Allow(id, Identity{token->sub, token->iss, token->kid, token->alg, &token->extra, cached},
          info);
    return;
  }
  std::string* head = server_->ResponseHead(id);
  int http_status = 401;
  switch (status) {
    case Status::kOverloaded:
    case Status::kShuttingDown:
    case Status::kInternalError:
    case Status::kIssuerKeysStale:
      head->assign(unavailable_head_);
      http_status = 503;
      break;
    default:
      head->assign(deny_prefix_).append(ToString(status)).append("\"\r\n");
      break;
  }
  Done(id, ReasonOf(status), http_status, nullptr, info);
}

void AuthHandler::Done(net::RequestId id, size_t reason, int http_status, const Identity* who,
                       const RequestInfo& info) {
  counters_.Count(reason);
  if (log_ != nullptr) {
    LogDecision(id, reason, http_status, who, info);
    notes_.erase(id);
  }
  server_->Finish(id);
}

void AuthHandler::LogDecision(net::RequestId id, size_t reason, int http_status,
                              const Identity* who, const RequestInfo& info) {
  const std::string_view decision = DecisionOf(reason);
  const int64_t now = MonotonicNs();
  if (decision == "allow" ? !log_->SampleAllow() : !log_->AdmitDeny(now)) return;
  DecisionRecord r;
  r.has_route = info.route != kNoRoute;
  r.route = settings_->routes.name(info.route);
  r.method = info.method;
  r.decision = decision;
  r.status = http_status;
  r.reason = ReasonName(reason);
  if (who != nullptr) {
    r.verified = true;
    r.sub = who->sub;
    r.iss = who->iss;
    r.kid = who->kid;
    r.alg = AlgName(who->alg);
    r.cache = who->cached;
  }
  r.latency_us = (now - server_->DispatchTimeNs(id)) / 1000;
  r.trace_id = info.trace_id;
  log_->Append(r);
}

}  // namespace jwtgate::daemon
