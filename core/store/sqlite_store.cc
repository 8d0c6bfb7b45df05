#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "base/c_handle.h"
#include "store/table_name.h"

namespace jwtgate::store {
namespace {

using DbPtr = base::CHandle<sqlite3, sqlite3_close_v2>;
using StmtPtr = base::CHandle<sqlite3_stmt, sqlite3_finalize>;

bool Exec(sqlite3* db, const std::string& sql, std::string* error) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) == SQLITE_OK) return true;
  if (error != nullptr) {
    *error = "sqlite: " + sql + ": " + (message != nullptr ? message : sqlite3_errmsg(db));
  }
  sqlite3_free(message);
  return false;
}

// Checks the table name and opens the database with sqlite3_open_v2 `flags`. kInvalidArgument
// or kConnectFailed with *error (when not null) set on failure.
StoreStatus OpenDb(const SqliteOptions& options, int flags, DbPtr* out, std::string* error) {
  if (StoreStatus s = CheckTableName("sqlite", options.table, error); s != StoreStatus::kOk) {
    return s;
  }
  const std::string& path = options.path;
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  out->reset(raw);
  if (rc != SQLITE_OK) {
    if (error != nullptr) {
      *error = "sqlite " + path + ": " + (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory");
    }
    return StoreStatus::kConnectFailed;
  }
  return StoreStatus::kOk;
}

// Prepares `sql` with sqlite3_prepare_v3 `prep_flags`; false with *error (when not null) set on
// failure.
bool Prepare(sqlite3* db, const std::string& sql, unsigned prep_flags, StmtPtr* out,
             std::string* error) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.c_str(), -1, prep_flags, &raw, nullptr);
  out->reset(raw);
  if (rc == SQLITE_OK) return true;
  if (error != nullptr) *error = "sqlite: prepare " + sql + ": " + sqlite3_errmsg(db);
  return false;
}

}  // namespace

StoreStatus SqliteStore::Open(const SqliteOptions& options, std::unique_ptr<SqliteStore>* out,
                              std::string* error) {
  DbPtr db;
  StoreStatus s = OpenDb(options, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, &db, error);
  if (s != StoreStatus::kOk) return s;
  sqlite3_busy_timeout(db.get(), options.busy_timeout_ms);
  if (!Exec(db.get(), "PRAGMA journal_mode = WAL", error) ||
      !Exec(db.get(), "PRAGMA synchronous = NORMAL", error) ||
      !Exec(db.get(), "PRAGMA mmap_size = " + std::to_string(options.mmap_bytes), error) ||
      !Exec(db.get(), "PRAGMA cache_size = -" + std::to_string(options.cache_kib), error)) {
    return StoreStatus::kServerError;
  }
  const std::string sql = "SELECT value FROM " + options.table + " WHERE id = ?1";
  StmtPtr get;
  if (!Prepare(db.get(), sql, SQLITE_PREPARE_PERSISTENT, &get, error)) {
    return StoreStatus::kServerError;
  }
  out->reset(new SqliteStore(db.release(), get.release(), options.table));
  return StoreStatus::kOk;
}

StoreStatus SqliteStore::CreateAndLoad(const SqliteOptions& options,
                                       std::span<const SessionRecord> records, std::string* error) {
  DbPtr db;
  StoreStatus s =
      OpenDb(options, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, &db, error);
  if (s != StoreStatus::kOk) return s;
  sqlite3* d = db.get();
  const std::string& t = options.table;
  // Loading needs neither a rollback journal nor fsync (a failed load is redone from
  // scratch); WAL is switched on once the data is in.
  if (!Exec(d, "PRAGMA journal_mode = OFF", error) || !Exec(d, "PRAGMA synchronous = OFF", error) ||
      !Exec(d, "PRAGMA cache_size = -262144", error) ||
      !Exec(d, "DROP TABLE IF EXISTS " + t, error) ||
      !Exec(d, "CREATE TABLE " + t + " (id BLOB PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
            error) ||
      !Exec(d, "BEGIN", error)) {
    return StoreStatus::kServerError;
  }
  StmtPtr insert;
  if (!Prepare(d, "INSERT INTO " + t + " (id, value) VALUES (?1, ?2)", 0, &insert, error)) {
    return StoreStatus::kServerError;
  }
  std::vector<const SessionRecord*> order(records.size());
  for (size_t i = 0; i < records.size(); ++i) order[i] = &records[i];
  // BLOB keys compare with memcmp, then length: the same order as string_view comparison.
  std::sort(order.begin(), order.end(),
            [](const SessionRecord* a, const SessionRecord* b) { return a->id < b->id; });
  for (const SessionRecord* rec : order) {
    sqlite3_bind_blob(insert.get(), 1, rec->id.data(), static_cast<int>(rec->id.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(insert.get(), 2, rec->value.data(), static_cast<int>(rec->value.size()),
                      SQLITE_STATIC);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) {
      if (error != nullptr) *error = std::string("sqlite: insert: ") + sqlite3_errmsg(d);
      return StoreStatus::kServerError;
    }
    sqlite3_reset(insert.get());
  }
  insert.reset();
  if (!Exec(d, "COMMIT", error) || !Exec(d, "ANALYZE", error) ||
      !Exec(d, "PRAGMA journal_mode = WAL", error) ||
      !Exec(d, "PRAGMA wal_checkpoint(TRUNCATE)", error)) {
    return StoreStatus::kServerError;
  }
  return StoreStatus::kOk;
}

void SqliteStore::CloseDatabase::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
void SqliteStore::FinalizeStatement::operator()(sqlite3_stmt* stmt) const noexcept {
  sqlite3_finalize(stmt);
}

SqliteStore::SqliteStore(sqlite3* db, sqlite3_stmt* get, std::string table)
    : SessionStore("sqlite"), db_(db), get_(get), table_(std::move(table)) {}

StoreStatus SqliteStore::WarmConnection(int64_t* rows) noexcept {
  // length(value) forces every row's payload (overflow pages included) to be read.
  StmtPtr stmt;
  if (!Prepare(db_.get(), "SELECT count(*), sum(length(value)) FROM " + table_, 0, &stmt,
               nullptr) ||
      sqlite3_step(stmt.get()) != SQLITE_ROW) {
    return Fail(StoreStatus::kServerError, "sqlite: warm connection");
  }
  if (rows != nullptr) *rows = sqlite3_column_int64(stmt.get(), 0);
  return StoreStatus::kOk;
}

StoreStatus SqliteStore::Fail(StoreStatus s, std::string_view what) noexcept {
  return SetError(s, what, sqlite3_errmsg(db_.get()));
}

StoreStatus SqliteStore::Get(std::string_view id, std::string* value) noexcept {
  value->clear();
  sqlite3_bind_blob(get_.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(get_.get());
  StoreStatus s;
  if (rc == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(get_.get(), 0);
    const int len = sqlite3_column_bytes(get_.get(), 0);
    value->assign(reinterpret_cast<const char*>(text), static_cast<size_t>(len));
    s = StoreStatus::kOk;
  } else if (rc == SQLITE_DONE) {
    s = StoreStatus::kNotFound;
  } else {
    s = Fail(StoreStatus::kServerError, "sqlite: lookup");
  }
  sqlite3_reset(get_.get());
  sqlite3_clear_bindings(get_.get());
  return s;
}

void SqliteStore::GetBatch(std::span<const std::string_view> ids, std::span<std::string> values,
                           std::span<StoreStatus> statuses) noexcept {
  for (size_t i = 0; i < ids.size(); ++i) statuses[i] = Get(ids[i], &values[i]);
}

}  // namespace jwtgate::store
