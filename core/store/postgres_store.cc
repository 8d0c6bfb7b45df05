#include "store/postgres_store.h"

#include <arpa/inet.h>
#include <libpq-fe.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/c_handle.h"
#include "store/table_name.h"

namespace jwtgate::store {
namespace {

constexpr const char* kGetStatement = "jwtgate_session_get";

using ResultPtr = base::CHandle<PGresult, PQclear>;
using ConnPtr = base::CHandle<PGconn, PQfinish>;

std::string Trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The server's message about `r`, or the connection's when there is no result (out of memory,
// connection lost).
std::string ResultError(PGconn* conn, const PGresult* r) {
  return Trimmed(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn));
}

// Checks the table name and connects. kInvalidArgument or kConnectFailed with *error (when not
// null) set on failure.
StoreStatus OpenConnection(const PostgresOptions& options, ConnPtr* conn, std::string* error) {
  if (StoreStatus s = CheckTableName("postgresql", options.table, error); s != StoreStatus::kOk) {
    return s;
  }
  conn->reset(PQconnectdb(options.conninfo.c_str()));
  if (*conn == nullptr || PQstatus(conn->get()) != CONNECTION_OK) {
    if (error != nullptr) {
      *error = "postgresql (" + options.conninfo +
               "): " + Trimmed(*conn != nullptr ? PQerrorMessage(conn->get()) : "out of memory");
    }
    return StoreStatus::kConnectFailed;
  }
  return StoreStatus::kOk;
}

// Runs a command that returns no rows; false with *error set on failure.
bool Exec(PGconn* conn, const std::string& sql, std::string* error) {
  ResultPtr r(PQexec(conn, sql.c_str()));
  const ExecStatusType st = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return true;
  if (error != nullptr) *error = "postgresql: " + sql + ": " + ResultError(conn, r.get());
  return false;
}

// Runs a query that returns one row; *value (when not null) receives its first column as an
// integer. False with *error set on failure.
bool QueryInt64(PGconn* conn, const std::string& sql, int64_t* value, std::string* error) {
  ResultPtr r(PQexec(conn, sql.c_str()));
  if (r == nullptr || PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    if (error != nullptr) *error = "postgresql: " + sql + ": " + ResultError(conn, r.get());
    return false;
  }
  if (value != nullptr) *value = std::atoll(PQgetvalue(r.get(), 0, 0));
  return true;
}

void PutU16(std::string* buf, uint16_t v) {
  const uint16_t be = htons(v);
  buf->append(reinterpret_cast<const char*>(&be), sizeof be);
}
void PutU32(std::string* buf, uint32_t v) {
  const uint32_t be = htonl(v);
  buf->append(reinterpret_cast<const char*>(&be), sizeof be);
}

}  // namespace

StoreStatus PostgresStore::Connect(const PostgresOptions& options,
                                   std::unique_ptr<PostgresStore>* out, std::string* error) {
  ConnPtr owned;
  if (StoreStatus s = OpenConnection(options, &owned, error); s != StoreStatus::kOk) return s;
  PGconn* const conn = owned.get();
  std::unique_ptr<PostgresStore> store(new PostgresStore(owned.release(), options.table));
  const std::string sql = "SELECT value FROM " + options.table + " WHERE id = $1";
  const std::array<Oid, 1> types = {17};  // bytea
  ResultPtr r(PQprepare(conn, kGetStatement, sql.c_str(), 1, types.data()));
  if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    if (error != nullptr) *error = "postgresql: PREPARE " + sql + ": " + ResultError(conn, r.get());
    return StoreStatus::kServerError;
  }
  store->set_server_pid(PQbackendPID(conn));  // this connection's backend
  *out = std::move(store);
  return StoreStatus::kOk;
}

StoreStatus PostgresStore::CreateAndLoad(const PostgresOptions& options,
                                         std::span<const SessionRecord> records,
                                         std::string* error) {
  ConnPtr conn;
  if (StoreStatus s = OpenConnection(options, &conn, error); s != StoreStatus::kOk) return s;
  PGconn* c = conn.get();
  const std::string& t = options.table;
  if (!Exec(c, "SET client_min_messages = warning", error) ||
      !Exec(c, "SET synchronous_commit = off", error) ||
      !Exec(c, "SET maintenance_work_mem = '256MB'", error) || !Exec(c, "BEGIN", error) ||
      !Exec(c, "DROP TABLE IF EXISTS " + t, error) ||
      !Exec(c, "CREATE TABLE " + t + " (id bytea NOT NULL, value text NOT NULL)", error)) {
    return StoreStatus::kServerError;
  }
  {
    ResultPtr r(PQexec(c, ("COPY " + t + " FROM STDIN (FORMAT binary, FREEZE)").c_str()));
    if (r == nullptr || PQresultStatus(r.get()) != PGRES_COPY_IN) {
      if (error != nullptr) *error = "postgresql: COPY: " + ResultError(c, r.get());
      return StoreStatus::kServerError;
    }
  }
  std::string buf;
  buf.reserve(1 << 20);
  buf.append("PGCOPY\n\377\r\n\0", 11);
  PutU32(&buf, 0);  // flags
  PutU32(&buf, 0);  // header extension length
  for (const SessionRecord& rec : records) {
    PutU16(&buf, 2);
    PutU32(&buf, static_cast<uint32_t>(rec.id.size()));
    buf.append(rec.id);
    PutU32(&buf, static_cast<uint32_t>(rec.value.size()));
    buf.append(rec.value);
    if (buf.size() >= (1 << 20) - 4096) {
      if (PQputCopyData(c, buf.data(), static_cast<int>(buf.size())) != 1) {
        if (error != nullptr) *error = "postgresql: COPY data: " + Trimmed(PQerrorMessage(c));
        return StoreStatus::kIoError;
      }
      buf.clear();
    }
  }
  PutU16(&buf, 0xffff);  // trailer: -1
  if (PQputCopyData(c, buf.data(), static_cast<int>(buf.size())) != 1 ||
      PQputCopyEnd(c, nullptr) != 1) {
    if (error != nullptr) *error = "postgresql: COPY end: " + Trimmed(PQerrorMessage(c));
    return StoreStatus::kIoError;
  }
  for (;;) {
    ResultPtr r(PQgetResult(c));
    if (r == nullptr) break;
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      if (error != nullptr) *error = "postgresql: COPY: " + Trimmed(PQresultErrorMessage(r.get()));
      return StoreStatus::kServerError;
    }
  }
  if (!Exec(c, "ALTER TABLE " + t + " ADD PRIMARY KEY (id)", error) || !Exec(c, "COMMIT", error) ||
      !Exec(c, "VACUUM ANALYZE " + t, error)) {
    return StoreStatus::kServerError;
  }
  return StoreStatus::kOk;
}

StoreStatus PostgresStore::Prewarm(const PostgresOptions& options, int64_t* pages,
                                   std::string* error) {
  ConnPtr conn;
  if (StoreStatus s = OpenConnection(options, &conn, error); s != StoreStatus::kOk) return s;
  PGconn* c = conn.get();
  if (!Exec(c, "SET client_min_messages = warning", error) ||
      !Exec(c, "CREATE EXTENSION IF NOT EXISTS pg_prewarm", error)) {
    return StoreStatus::kServerError;
  }
  // The primary key's index is named <table>_pkey by default (CreateAndLoad).
  const std::string t = options.table;
  const std::string sql = "SELECT pg_prewarm('" + t + "') + pg_prewarm('" + t + "_pkey')";
  return QueryInt64(c, sql, pages, error) ? StoreStatus::kOk : StoreStatus::kServerError;
}

void PostgresStore::CloseConnection::operator()(pg_conn* conn) const noexcept { PQfinish(conn); }

PostgresStore::PostgresStore(pg_conn* conn, std::string table)
    : SessionStore("postgresql"), conn_(conn), table_(std::move(table)) {}

StoreStatus PostgresStore::WarmConnection(int64_t* rows) noexcept {
  if (broken_) return StoreStatus::kIoError;
  std::string error;
  // The index first, through an index-only scan (forced: the planner would rather not), then
  // the heap through a sequential scan; length(value) reads every tuple.
  const std::string index_scan =
      "SELECT count(*) FROM (SELECT id FROM " + table_ + " ORDER BY id) AS ids";
  if (!Exec(conn_.get(), "SET enable_seqscan = off", &error) ||
      !Exec(conn_.get(), "SET enable_bitmapscan = off", &error) ||
      !Exec(conn_.get(), index_scan, &error) ||
      !Exec(conn_.get(), "RESET enable_seqscan", &error) ||
      !Exec(conn_.get(), "RESET enable_bitmapscan", &error)) {
    return Fail(StoreStatus::kServerError, error);
  }
  const std::string sql = "SELECT count(*), sum(length(value)) FROM " + table_;
  if (!QueryInt64(conn_.get(), sql, rows, &error)) return Fail(StoreStatus::kServerError, error);
  return StoreStatus::kOk;
}

std::string PostgresStore::server_version() const {
  const char* v = PQparameterStatus(conn_.get(), "server_version");
  return v != nullptr ? v : "";
}

StoreStatus PostgresStore::Fail(StoreStatus s, std::string_view what) noexcept {
  if (PQstatus(conn_.get()) != CONNECTION_BAD) return SetError(s, what);
  broken_ = true;
  return SetError(StoreStatus::kIoError, what, Trimmed(PQerrorMessage(conn_.get())));
}

namespace {

// Maps one query's result; fills *value on kOk.
StoreStatus MapResult(PGresult* r, std::string* value, std::string* message) {
  if (r == nullptr) return StoreStatus::kIoError;
  switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
      if (PQntuples(r) == 0) return StoreStatus::kNotFound;
      if (PQnfields(r) != 1) {
        *message = "postgresql: unexpected column count";
        return StoreStatus::kProtocolError;
      }
      value->assign(PQgetvalue(r, 0, 0), static_cast<size_t>(PQgetlength(r, 0, 0)));
      return StoreStatus::kOk;
    case PGRES_PIPELINE_ABORTED:
      *message = "postgresql: pipeline aborted by an earlier error";
      return StoreStatus::kServerError;
    default:
      *message = Trimmed(PQresultErrorMessage(r));
      return StoreStatus::kServerError;
  }
}

}  // namespace

StoreStatus PostgresStore::Get(std::string_view id, std::string* value) noexcept {
  value->clear();
  if (broken_) return StoreStatus::kIoError;
  const std::array<const char*, 1> values = {id.data()};
  const std::array<int, 1> lengths = {static_cast<int>(id.size())};
  const std::array<int, 1> formats = {1};
  ResultPtr r(PQexecPrepared(conn_.get(), kGetStatement, 1, values.data(), lengths.data(),
                             formats.data(), 1));
  std::string message;
  const StoreStatus s = MapResult(r.get(), value, &message);
  if (s == StoreStatus::kOk || s == StoreStatus::kNotFound) return s;
  return Fail(s, message.empty() ? "postgresql: EXECUTE" : message);
}

void PostgresStore::GetBatch(std::span<const std::string_view> ids, std::span<std::string> values,
                             std::span<StoreStatus> statuses) noexcept {
  const size_t n = ids.size();
  for (size_t i = 0; i < n; ++i) {
    values[i].clear();
    statuses[i] = StoreStatus::kIoError;
  }
  if (broken_ || n == 0) return;
  if (PQenterPipelineMode(conn_.get()) != 1) {
    (void)Fail(StoreStatus::kServerError, "postgresql: cannot enter pipeline mode");
    return;
  }
  size_t sent = 0;
  const std::array<int, 1> formats = {1};
  for (; sent < n; ++sent) {
    const std::array<const char*, 1> params = {ids[sent].data()};
    const std::array<int, 1> lengths = {static_cast<int>(ids[sent].size())};
    if (PQsendQueryPrepared(conn_.get(), kGetStatement, 1, params.data(), lengths.data(),
                            formats.data(), 1) != 1) {
      break;
    }
  }
  if (sent < n) (void)Fail(StoreStatus::kIoError, "postgresql: send (pipelined)");
  if (PQpipelineSync(conn_.get()) != 1) {
    (void)Fail(StoreStatus::kIoError, "postgresql: pipeline sync");
    return;
  }
  std::string message;
  for (size_t i = 0; i < sent; ++i) {
    ResultPtr r(PQgetResult(conn_.get()));
    statuses[i] = MapResult(r.get(), &values[i], &message);
    if (statuses[i] != StoreStatus::kOk && statuses[i] != StoreStatus::kNotFound) {
      statuses[i] = Fail(statuses[i], message.empty() ? "postgresql: EXECUTE" : message);
      if (broken_) return;
    }
    if (r != nullptr) {
      ResultPtr end(PQgetResult(conn_.get()));  // NULL: end of this query's results
    }
  }
  ResultPtr sync(PQgetResult(conn_.get()));
  if (sync == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    (void)Fail(StoreStatus::kProtocolError, "postgresql: pipeline: no sync result");
    return;
  }
  if (PQexitPipelineMode(conn_.get()) != 1) {
    (void)Fail(StoreStatus::kProtocolError, "postgresql: cannot leave pipeline mode");
  }
}

}  // namespace jwtgate::store
