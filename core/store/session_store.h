// SessionStore: "is this opaque session id known, and what is its session?" — the per-request
// lookup that a server without self-contained tokens performs, behind one interface so that the
// strategies benchmark treats Redis, PostgreSQL and SQLite alike.
//
// Data model. A session is (id, value): `id` an opaque byte string (the benchmark uses 32
// bytes), `value` a small JSON document. Each backend stores it the way a careful team would:
//   Redis       GET <key_prefix><id>         (binary-safe key; RedisStore)
//   PostgreSQL  SELECT value FROM <table> WHERE id = $1   (bytea primary key, prepared,
//               binary parameters; PostgresStore)
//   SQLite      SELECT value FROM <table> WHERE id = ?1   (BLOB primary key, WITHOUT ROWID,
//               prepared; SqliteStore)
//
// Contract of every implementation:
//  - One object is one connection. It is NOT thread-safe: use one per thread (the benchmark's
//    "one DB connection per thread").
//  - Get returns kOk and replaces *value with the stored value, or kNotFound and leaves *value
//    empty, or an error. After kIoError the object is unusable; make a new one.
//  - GetBatch looks up every id in one go: statuses[i] and values[i] answer ids[i]. Redis and
//    PostgreSQL send the whole batch before reading any answer (pipelining: one round trip for
//    the batch); SQLite, being in-process, loops. An error that breaks the connection marks every
//    id not yet answered with that error. REQUIRES: the three spans have the same size.
//  - last_error() describes the last failure (server message, errno text); empty when none.
//  - Nothing throws.
#ifndef JWTGATE_STORE_SESSION_STORE_H_
#define JWTGATE_STORE_SESSION_STORE_H_

#include <span>
#include <string>
#include <string_view>

#include "store/store_status.h"

namespace jwtgate::store {

// One session for bulk loading. Views: valid for the duration of the load call.
struct SessionRecord {
  std::string_view id;
  std::string_view value;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // "redis", "postgresql" or "sqlite".
  std::string_view backend() const noexcept { return backend_; }

  virtual StoreStatus Get(std::string_view id, std::string* value) noexcept = 0;

  virtual void GetBatch(std::span<const std::string_view> ids, std::span<std::string> values,
                        std::span<StoreStatus> statuses) noexcept = 0;

  // The id of the server process that serves this connection (the Redis server, this
  // connection's PostgreSQL backend), for CPU accounting from /proc; 0 for an in-process
  // store or when unknown.
  int server_pid() const noexcept { return server_pid_; }

  // What the last failed call found ("GET: connection reset by peer"); empty before any
  // failure. Not cleared by a later success.
  const std::string& last_error() const noexcept { return last_error_; }

 protected:
  // `backend`: a string literal, backend()'s answer.
  explicit SessionStore(std::string_view backend) noexcept : backend_(backend) {}

  void set_server_pid(int pid) noexcept { server_pid_ = pid; }

  // Records a failure as last_error(): "what: detail", or "what" when detail is empty.
  // Returns s, so that a failing path reads `return SetError(...)`. The one place every
  // backend's error text is composed.
  StoreStatus SetError(StoreStatus s, std::string_view what, std::string_view detail = {}) {
    last_error_.assign(what);
    if (!detail.empty()) {
      last_error_ += ": ";
      last_error_ += detail;
    }
    return s;
  }

 private:
  std::string_view backend_;
  std::string last_error_;
  int server_pid_ = 0;
};

}  // namespace jwtgate::store

#endif  // JWTGATE_STORE_SESSION_STORE_H_
