#include "replicate/redis_client.h"

#include <charconv>

namespace jwtgate::replicate {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

bool ParseRedisAddress(std::string_view address, std::string* host, int* port, std::string* path,
                       std::string* error) {
  if (address.substr(0, 5) == "unix:") {
    *path = std::string(address.substr(5));
    if (path->empty() || path->front() != '/') {
      *error = "a unix socket address is unix:/absolute/path";
      return false;
    }
    return true;
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    *error = "expected host:port or unix:/path, got '" + std::string(address) + "'";
    return false;
  }
  int p = 0;
  const std::string_view ps = address.substr(colon + 1);
  const auto r = std::from_chars(ps.data(), ps.data() + ps.size(), p);
  if (r.ec != std::errc() || r.ptr != ps.data() + ps.size() || p < 1 || p > 65535) {
    *error = "bad port in '" + std::string(address) + "'";
    return false;
  }
  *host = std::string(address.substr(0, colon));
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = p;
  return true;
}

std::string_view ReplyText(const redisReply* r) {
  if (r == nullptr) return {};
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string_view(r->str, r->len);
    default:
      return {};
  }
}

RedisClient::RedisClient(RedisOptions options) : options_(std::move(options)) {}

RedisClient::~RedisClient() { Close(); }

void RedisClient::Close() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisClient::SetTimeout(std::chrono::milliseconds t) {
  if (ctx_ != nullptr) redisSetTimeout(ctx_, ToTimeval(t));
}

bool RedisClient::Connect(std::string* error) {
  if (ctx_ != nullptr) return true;
  std::string host, path;
  int port = 0;
  if (!ParseRedisAddress(options_.address, &host, &port, &path, error)) return false;
  const timeval tv = ToTimeval(options_.connect_timeout);
  redisContext* c = path.empty() ? redisConnectWithTimeout(host.c_str(), port, tv)
                                 : redisConnectUnixWithTimeout(path.c_str(), tv);
  if (c == nullptr || c->err != 0) {
    *error = options_.address + ": " + (c != nullptr ? std::string(c->errstr) : "out of memory");
    if (c != nullptr) redisFree(c);
    return false;
  }
  ctx_ = c;
  SetTimeout(options_.command_timeout);
  if (!options_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!options_.username.empty()) auth.push_back(options_.username);
    auth.push_back(options_.password);
    Reply r = Command(auth, error);
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      // The reply names the failure (WRONGPASS ...); never echo the password.
      *error = options_.address + ": AUTH refused: " + std::string(ReplyText(r.get()));
      Close();
      return false;
    }
  }
  return true;
}

RedisClient::Reply RedisClient::Command(const std::vector<std::string>& argv, std::string* error,
                                        std::chrono::milliseconds timeout) {
  if (ctx_ == nullptr && !Connect(error)) return nullptr;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  if (timeout.count() > 0) SetTimeout(timeout);
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
  if (timeout.count() > 0 && ctx_ != nullptr) SetTimeout(options_.command_timeout);
  if (reply == nullptr) {
    *error = options_.address + ": " + (ctx_->errstr[0] != '\0' ? ctx_->errstr : "I/O error");
    Close();
    return nullptr;
  }
  return Reply(reply);
}

bool RedisClient::Pipeline(const std::vector<std::vector<std::string>>& commands,
                           std::vector<Reply>* replies, std::string* error) {
  replies->clear();
  if (ctx_ == nullptr && !Connect(error)) return false;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& argv : commands) {
    ptrs.clear();
    lens.clear();
    for (const std::string& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) !=
        REDIS_OK) {
      *error = options_.address + ": " + ctx_->errstr;
      Close();
      return false;
    }
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || r == nullptr) {
      *error = options_.address + ": " + (ctx_->errstr[0] != '\0' ? ctx_->errstr : "I/O error");
      Close();
      return false;
    }
    replies->emplace_back(static_cast<redisReply*>(r));
  }
  return true;
}

}  // namespace jwtgate::replicate
