// PostgresStore: one libpq connection looking sessions up by primary key with a prepared
// statement, and the bulk loader that creates the table.
//
// Schema (CreateAndLoad):
//   CREATE TABLE <table> (id bytea PRIMARY KEY, value text NOT NULL)
// Lookup (prepared once per connection as "jwtgate_session_get"):
//   SELECT value FROM <table> WHERE id = $1
// with the id sent as a binary parameter and the value read in binary result format (for
// text, the bytes as stored): no escaping or hex conversion on either side.
//
// GetBatch uses libpq pipeline mode (PostgreSQL 14+ client): every EXECUTE is sent before the
// first result is read, then one Sync; one round trip per batch, each query still its own
// implicit transaction.
//
// The connection string is libpq's (e.g. "host=/tmp/pgsock port=5432 dbname=postgres
// user=postgres"): a `host` that starts with '/' is a Unix-socket directory.
//
// Thread safety: none (one PostgresStore per thread; libpq connections are not shareable).
// Errors: see session_store.h; the server's message is in last_error().
#ifndef JWTGATE_STORE_POSTGRES_STORE_H_
#define JWTGATE_STORE_POSTGRES_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "store/session_store.h"

struct pg_conn;

namespace jwtgate::store {

struct PostgresOptions {
  std::string conninfo;
  // An SQL identifier: [a-z_][a-z0-9_]*.
  std::string table = "sessions";
};

class PostgresStore final : public SessionStore {
 public:
  // Connects and prepares the lookup. kConnectFailed when the server cannot be reached,
  // kServerError when the statement cannot be prepared (e.g. the table does not exist yet),
  // kInvalidArgument for a bad table name. *error (when not null) says why.
  static StoreStatus Connect(const PostgresOptions& options, std::unique_ptr<PostgresStore>* out,
                             std::string* error = nullptr);

  // Creates the table (dropping any previous one) and loads `records` with COPY (binary
  // format, FREEZE, in the transaction that created the table, so that no WAL is needed with
  // wal_level=minimal and no hint-bit writes follow), then adds the primary key and runs
  // VACUUM ANALYZE. REQUIRES: ids unique.
  static StoreStatus CreateAndLoad(const PostgresOptions& options,
                                   std::span<const SessionRecord> records,
                                   std::string* error = nullptr);

  // Loads the table and its primary-key index into shared buffers with pg_prewarm (extension
  // from postgresql-contrib; created when missing), so that lookups measure a warm server
  // rather than reads from the OS page cache. *pages (when not null) receives the number of
  // blocks loaded. kServerError when the extension is not available.
  static StoreStatus Prewarm(const PostgresOptions& options, int64_t* pages,
                             std::string* error = nullptr);

  StoreStatus Get(std::string_view id, std::string* value) noexcept override;
  void GetBatch(std::span<const std::string_view> ids, std::span<std::string> values,
                std::span<StoreStatus> statuses) noexcept override;

  // Reads every page of the table and of its primary-key index through this connection (a
  // sequential scan and an index-only scan), so that this backend has the shared buffers
  // mapped before measuring: a new backend otherwise takes a page fault on the first touch
  // of every shared-buffer page, for its first thousands of lookups. A long-lived pooled
  // connection is in that state. Returns the number of rows seen.
  StoreStatus WarmConnection(int64_t* rows = nullptr) noexcept;

  // The server's version as "15.x" (server_version), for result files.
  std::string server_version() const;

 private:
  PostgresStore(pg_conn* conn, std::string table);
  StoreStatus Fail(StoreStatus s, std::string_view what) noexcept;

  struct CloseConnection {
    void operator()(pg_conn* conn) const noexcept;  // PQfinish
  };
  std::unique_ptr<pg_conn, CloseConnection> conn_;
  std::string table_;
  bool broken_ = false;  // the connection is gone (CONNECTION_BAD): every call fails fast
};

}  // namespace jwtgate::store

#endif  // JWTGATE_STORE_POSTGRES_STORE_H_
