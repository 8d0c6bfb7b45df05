// RedisStore: a synchronous hiredis connection to one Redis keyspace (a key prefix), with
// pipelined batch forms.
//
// Every key argument is prefixed with RedisOptions::key_prefix ("sess:" for sessions, "deny:"
// for a jti denylist), so a RedisStore is one keyspace and a caller passes bare ids. Keys are
// binary-safe (sent with explicit lengths).
//
// Round trips. Get/Exists cost one round trip each. GetBatch/ExistsBatch/SetMany append every
// command to the output buffer, write it at once and then read the replies in order: the
// pipelining a hiredis user gets from redisAppendCommand + redisGetReply, and the same bytes on
// the wire as an asynchronous client keeping that many requests in flight.
//
// Thread safety: none (one RedisStore per thread). Errors: see session_store.h; the Redis
// error text (or the hiredis/errno text) is in last_error().
//
// REQUIRES: the process ignores SIGPIPE (signal(SIGPIPE, SIG_IGN)). hiredis writes with
// write(2), so a write to a connection the server has closed raises SIGPIPE, which would kill
// the process instead of returning kIoError. The library does not change the process's signal
// dispositions itself.
#ifndef JWTGATE_STORE_REDIS_STORE_H_
#define JWTGATE_STORE_REDIS_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "store/session_store.h"

struct redisContext;

namespace jwtgate::store {

struct RedisOptions {
  // Either a Unix socket path, or host and port (TCP; hiredis sets TCP_NODELAY).
  std::string unix_socket;
  std::string host = "127.0.0.1";
  int port = 6379;
  // Connect and per-operation timeout.
  int timeout_ms = 5000;
  std::string key_prefix = "sess:";
};

class RedisStore final : public SessionStore {
 public:
  // Connects and reads the server's process id (INFO server). On failure returns
  // kConnectFailed and sets *error when not null.
  static StoreStatus Connect(const RedisOptions& options, std::unique_ptr<RedisStore>* out,
                             std::string* error = nullptr);

  // GET prefix+id.
  StoreStatus Get(std::string_view id, std::string* value) noexcept override;
  void GetBatch(std::span<const std::string_view> ids, std::span<std::string> values,
                std::span<StoreStatus> statuses) noexcept override;

  // EXISTS prefix+key: kOk when it exists, kNotFound when not.
  StoreStatus Exists(std::string_view key) noexcept;
  // Pipelined EXISTS. REQUIRES: keys.size() == statuses.size().
  void ExistsBatch(std::span<const std::string_view> keys,
                   std::span<StoreStatus> statuses) noexcept;

  // Bulk loading: stores every record under prefix+id. Without expiry (ttl_s <= 0), one MSET
  // per `chunk` records; with one, SET prefix+id value EX ttl_s pipelined in chunks of `chunk`
  // commands. Returns the first failure.
  StoreStatus SetMany(std::span<const SessionRecord> records, int64_t ttl_s = 0,
                      size_t chunk = 1000) noexcept;

  // Any command without key prefixing (INFO, DBSIZE, CONFIG GET ...). On kOk, *reply receives
  // a string, status or integer reply as text (an array reply is refused: kProtocolError).
  StoreStatus Command(std::span<const std::string_view> argv, std::string* reply) noexcept;

 private:
  RedisStore(redisContext* ctx, RedisOptions options);
  // Appends "<cmd> prefix+key [more...]" to the output buffer.
  bool AppendKeyed(std::string_view cmd, std::string_view key, std::string_view arg1 = {},
                   std::string_view arg2 = {}, std::string_view arg3 = {}) noexcept;
  // Appends "<cmd> prefix+key" for every key, as a pipeline. Returns how many were appended:
  // all of them, or fewer after Fail(kIoError, append_error), or 0 on a broken connection.
  size_t AppendEach(std::string_view cmd, std::span<const std::string_view> keys,
                    std::string_view append_error) noexcept;
  // Which replies ReadValueReply takes as a value: a bulk string only (GET), or also a status
  // or an integer reply, as text (Command).
  enum class ValueReply : uint8_t { kString, kScalar };
  // The readers of the next reply; each reports an I/O error as Fail(kIoError, io_error).
  // A value: kOk with it in *value; nil: kNotFound; an error reply: kServerError; any other
  // type: Fail(kProtocolError, unexpected).
  StoreStatus ReadValueReply(std::string* value, ValueReply accept, std::string_view io_error,
                             std::string_view unexpected) noexcept;
  // EXISTS's count: kOk when the key exists, kNotFound when not.
  StoreStatus ReadExistsReply(std::string_view io_error) noexcept;
  // A SET's or MSET's reply: an error reply goes to *first unless it already holds a failure.
  // False on an I/O error.
  bool ReadWriteReply(std::string_view io_error, StoreStatus* first) noexcept;
  StoreStatus Fail(StoreStatus s, std::string_view what) noexcept;

  struct FreeContext {
    void operator()(redisContext* ctx) const noexcept;  // redisFree
  };
  std::unique_ptr<redisContext, FreeContext> ctx_;
  RedisOptions options_;
  std::string key_buf_;
  bool broken_ = false;  // an I/O error left replies unread: every call fails fast
};

}  // namespace jwtgate::store

#endif  // JWTGATE_STORE_REDIS_STORE_H_
