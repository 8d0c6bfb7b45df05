// SqliteStore: an embedded SQLite database of sessions, one connection per thread, WAL mode,
// looked up with a prepared statement; and the bulk loader that creates it.
//
// Schema (CreateAndLoad):
//   CREATE TABLE <table> (id BLOB PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID
// (the clustered primary key: one B-tree descent per lookup, no rowid indirection).
// Lookup: SELECT value FROM <table> WHERE id = ?1, prepared once per connection, the id bound
// as a blob without copying.
//
// Connections are opened with SQLITE_OPEN_NOMUTEX (the object is used by one thread at a time,
// so SQLite's per-connection mutex is not needed), journal_mode=WAL (readers never block each
// other or a writer), synchronous=NORMAL, and, when mmap_bytes > 0, memory-mapped I/O, so a
// lookup of a page that is in the OS page cache is a memory read instead of a pread() system
// call (SQLite's page cache is per connection and small by default).
//
// Thread safety: none (one SqliteStore per thread). Errors: see session_store.h; SQLite's
// message is in last_error(). SQLITE_BUSY maps to kServerError.
#ifndef JWTGATE_STORE_SQLITE_STORE_H_
#define JWTGATE_STORE_SQLITE_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "store/session_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace jwtgate::store {

struct SqliteOptions {
  std::string path;
  // An SQL identifier: [a-z_][a-z0-9_]*.
  std::string table = "sessions";
  // PRAGMA mmap_size; 0 disables memory-mapped I/O.
  int64_t mmap_bytes = int64_t{1} << 30;
  // PRAGMA cache_size in KiB (SQLite's page cache, per connection).
  int64_t cache_kib = 8192;
  // How long a statement waits for a lock another connection holds before SQLITE_BUSY
  // (sqlite3_busy_timeout). Connections opened at the same moment contend while the first of
  // them sets up the WAL index; without a wait one of them fails at open.
  int busy_timeout_ms = 5000;
};

class SqliteStore final : public SessionStore {
 public:
  // The database is made first, then opened by each connection.
  //
  // Creates the database file (replacing the table if it exists) and inserts `records` in one
  // transaction with a prepared INSERT, in id order (sequential B-tree appends), then ANALYZE
  // and a WAL checkpoint. REQUIRES: ids unique.
  static StoreStatus CreateAndLoad(const SqliteOptions& options,
                                   std::span<const SessionRecord> records,
                                   std::string* error = nullptr);

  // Opens an existing database read-write and prepares the lookup. kConnectFailed when the
  // file cannot be opened, kServerError when the statement cannot be prepared (no table).
  static StoreStatus Open(const SqliteOptions& options, std::unique_ptr<SqliteStore>* out,
                          std::string* error = nullptr);

  StoreStatus Get(std::string_view id, std::string* value) noexcept override;
  // In-process: a loop over Get (there is no round trip to save).
  void GetBatch(std::span<const std::string_view> ids, std::span<std::string> values,
                std::span<StoreStatus> statuses) noexcept override;

  // Reads every page of the table through this connection (a full scan), so that its
  // memory map is populated before measuring (otherwise each first touch of a page is a page
  // fault, for the connection's first thousands of lookups); returns the number of rows.
  StoreStatus WarmConnection(int64_t* rows = nullptr) noexcept;

 private:
  SqliteStore(sqlite3* db, sqlite3_stmt* get, std::string table);
  StoreStatus Fail(StoreStatus s, std::string_view what) noexcept;

  struct CloseDatabase {
    void operator()(sqlite3* db) const noexcept;  // sqlite3_close_v2
  };
  struct FinalizeStatement {
    void operator()(sqlite3_stmt* stmt) const noexcept;  // sqlite3_finalize
  };
  // Declared in this order so that the statement is finalized before the database closes.
  std::unique_ptr<sqlite3, CloseDatabase> db_;
  std::unique_ptr<sqlite3_stmt, FinalizeStatement> get_;
  std::string table_;
};

}  // namespace jwtgate::store

#endif  // JWTGATE_STORE_SQLITE_STORE_H_
