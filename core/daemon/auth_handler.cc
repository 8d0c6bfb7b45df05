#include "daemon/auth_handler.h"

#include <unistd.h>

#include <ctime>

#include "base/eventfd.h"
#include "net/http_fields.h"

namespace jwtgate::daemon {
namespace {

constexpr size_t kCompletionBatch = 256;
// Tag bit of a request verified again after an unknown-kid refetch (generations stay below).
constexpr uint64_t kRetriedTag = uint64_t{1} << 63;

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

AuthHandler::AuthHandler(const AuthSettings* settings, size_t completion_capacity)
    : settings_(settings), cq_(completion_capacity, /*signal=*/true) {
  batch_.resize(kCompletionBatch);
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
}

AuthHandler::~AuthHandler() {
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
  // are answered in the same batch of sends.
  server->SetIterationHook([this] {
    if (cq_.in_flight() != 0) DrainCompletions();
  });
}

bool AuthHandler::PathMatches(std::string_view path) const noexcept {
  const std::string& p = settings_->path_prefix;
  if (path.substr(0, p.size()) != p) return false;
  return p.back() == '/' || path.size() == p.size() || path[p.size()] == '/';
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

void AuthHandler::AnswerStatic(net::RequestId id, size_t reason, const std::string& head) {
  counters_.Count(reason);
  server_->ResponseHead(id)->assign(head);
  server_->Finish(id);
}

void AuthHandler::OnRequest(net::HttpServer& /*server*/, net::RequestId id,
                            const net::HttpRequest& req, std::string_view /*body*/) {
  if (!PathMatches(req.path)) {
    AnswerStatic(id, kReasonNotFound, not_found_head_);
    return;
  }
  std::string_view token;
  switch (net::ExtractBearer(req, &token)) {
    case net::BearerResult::kMissing:
      AnswerStatic(id, kReasonMissing, missing_head_);
      return;
    case net::BearerResult::kDuplicate:
      AnswerStatic(id, kReasonInvalidRequest, duplicate_head_);
      return;
    case net::BearerResult::kMalformed:
      AnswerStatic(id, kReasonInvalidRequest, malformed_head_);
      return;
    case net::BearerResult::kOk:
      break;
  }

  if (const replicate::Replicator* rep = settings_->replicator.load(std::memory_order_acquire);
      rep != nullptr && rep->stale()) {
    // Fail closed: this node may not know revocations the fleet has made meanwhile.
    AnswerStatic(id, ReasonOf(Status::kRevocationStale), unavailable_head_);
    return;
  }
  Dispatch(id, token, /*retried=*/false);
}

void AuthHandler::Dispatch(net::RequestId id, std::string_view token, bool retried) {
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
        Finish(id, st, entry);
        latency_.Observe(MonotonicNs() - started);
        return;
      }
    }
    if (here) {
      Claims claims;
      const Status st = v->Verify(token, now, ctx_, &claims);
      if (st != Status::kOk) {
        Verdict(id, st, nullptr, token, retried);
      } else {
        extra_.resize(settings_->claims.size());
        for (size_t i = 0; i < extra_.size(); ++i) {
          std::string_view value;
          if (ctx_.ClaimAsString(settings_->claims[i], &value)) {
            extra_[i].assign(value);
          } else {
            extra_[i].clear();
          }
        }
        if (cache != nullptr) {
          std::shared_ptr<const VerifiedToken> entry =
              VerifiedToken::From(token, hash, claims, extra_);
          cache->Insert(entry);
          Finish(id, Status::kOk, entry.get());
        } else {
          Allow(id, claims.sub, claims.iss, &extra_);
        }
      }
      latency_.Observe(MonotonicNs() - started);
      return;
    }
  }

  const std::string_view pinned = retried ? token : server_->Pin(id, token);
  // The top bit marks a retry after a refetch (its verdict is final).
  server_->SetTag(
      id, settings_->generation.load(std::memory_order_acquire) | (retried ? kRetriedTag : 0));
  const Status s = settings_->pipeline->Submit(pinned, id, &cq_);
  if (s != Status::kOk) {
    // kOverloaded or kShuttingDown: no completion follows.
    AnswerStatic(id, ReasonOf(s), unavailable_head_);
  }
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
      if (c.status == Status::kOk && c.token && cache != nullptr &&
          server_->Tag(c.ticket) == settings_->generation.load(std::memory_order_acquire)) {
        // (A retried request's tag has kRetriedTag set: never equal, never cached.)
        // The pipeline runs without the cache (hits never reach it); remember the verdict here,
        // keyed with the cache's own seeded hash.
        auto entry = std::make_shared<VerifiedToken>(*c.token);
        entry->hash = cache->Hash(entry->token);
        cache->Insert(entry);
      }
      Verdict(c.ticket, c.status, c.token.get(), c.submitted,
              (server_->Tag(c.ticket) & kRetriedTag) != 0);
      c.token.reset();
    }
    if (n < batch_.size()) return;
  }
}

void AuthHandler::Verdict(net::RequestId id, Status status, const VerifiedToken* token,
                          std::string_view token_text, bool retried) {
  if (status == Status::kUnknownKid && !retried && Park(id, token_text)) return;
  Finish(id, status, token);
}

bool AuthHandler::Park(net::RequestId id, std::string_view token) {
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
  parked_.push_back(Parked{id, pinned, std::move(state)});
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
  for (const Parked& p : ready) Dispatch(p.id, p.token, /*retried=*/true);
}

void AuthHandler::Allow(net::RequestId id, std::string_view sub, std::string_view iss,
                        const std::vector<std::string>* extra) {
  std::string* head = server_->ResponseHead(id);
  head->assign("HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nX-Auth-Sub: ");
  const size_t max = settings_->max_header_value;
  net::AppendHeaderValue(sub, max, head);
  head->append("\r\nX-Auth-Iss: ");
  net::AppendHeaderValue(iss, max, head);
  head->append("\r\n");
  const auto& names = settings_->claim_headers;
  for (size_t i = 0; i < names.size(); ++i) {
    head->append(names[i]).append(": ");
    if (extra != nullptr && i < extra->size()) net::AppendHeaderValue((*extra)[i], max, head);
    head->append("\r\n");
  }
  counters_.Count(ReasonOf(Status::kOk));
  server_->Finish(id);
}

void AuthHandler::Finish(net::RequestId id, Status status, const VerifiedToken* token) {
  if (status == Status::kOk && token == nullptr) status = Status::kInternalError;
  if (status == Status::kOk) {
    Allow(id, token->sub, token->iss, &token->extra);
    return;
  }
  std::string* head = server_->ResponseHead(id);
  switch (status) {
    case Status::kOverloaded:
    case Status::kShuttingDown:
    case Status::kInternalError:
    case Status::kIssuerKeysStale:
      head->assign(unavailable_head_);
      break;
    default:
      head->assign(deny_prefix_).append(ToString(status)).append("\"\r\n");
      break;
  }
  counters_.Count(ReasonOf(status));
  server_->Finish(id);
}

}  // namespace jwtgate::daemon
