// RedisClient: one synchronous hiredis connection with the timeouts, authentication and error
// handling replication needs. Redis from Debian bookworm (7.0) with hiredis 0.14, which has
// no TLS: across hosts, run it through a local TLS tunnel (README).
//
// Every command has a timeout; an I/O error or a timeout closes the connection (hiredis
// cannot resynchronize a half-read reply) and the caller reconnects. Not thread-safe: one per
// thread.
#ifndef JWTGATE_REPLICATE_REDIS_CLIENT_H_
#define JWTGATE_REPLICATE_REDIS_CLIENT_H_

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/c_handle.h"

namespace jwtgate::replicate {

struct RedisOptions {
  std::string address;   // "host:port" or "unix:/path/to/redis.sock"
  std::string username;  // ACL user ("" : the default user)
  std::string password;  // "" : no AUTH
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{2000};
};

// Checks an address ("host:port", "unix:/path"); false with a reason.
bool ParseRedisAddress(std::string_view address, std::string* host, int* port, std::string* path,
                       std::string* error);

class RedisClient {
 public:
  using Reply = base::CHandle<redisReply, freeReplyObject>;

  explicit RedisClient(RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects (if not connected) and authenticates. false with a reason.
  bool Connect(std::string* error);
  bool connected() const noexcept { return ctx_ != nullptr; }
  void Close();

  // Runs one command. Null on an I/O error or timeout (the connection is then closed) with
  // `*error`; a Redis error reply is returned as such (type REDIS_REPLY_ERROR). `timeout`
  // overrides the command timeout for this call (a blocking XREAD).
  Reply Command(const std::vector<std::string>& argv, std::string* error,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Sends every command, then reads every reply (one round trip). false on an I/O error.
  bool Pipeline(const std::vector<std::vector<std::string>>& commands, std::vector<Reply>* replies,
                std::string* error);

 private:
  void SetTimeout(std::chrono::milliseconds t);
  RedisOptions options_;
  redisContext* ctx_ = nullptr;
};

// A reply's text (status, string, error), or "" for other types.
std::string_view ReplyText(const redisReply* r);

}  // namespace jwtgate::replicate

#endif  // JWTGATE_REPLICATE_REDIS_CLIENT_H_
