// The table name of an SQL session store (PostgresOptions::table, SqliteOptions::table) is
// spliced into its statements, so it is checked before any is built: a plain lower-case SQL
// identifier, [a-z_][a-z0-9_]*, of 1 to 63 bytes (PostgreSQL's identifier length limit).
#ifndef JWTGATE_STORE_TABLE_NAME_H_
#define JWTGATE_STORE_TABLE_NAME_H_

#include <string>
#include <string_view>

#include "store/store_status.h"

namespace jwtgate::store {

// kOk for a valid `table`; otherwise kInvalidArgument, with *error (when not null) set to
// "<backend>: invalid table name '<table>'".
StoreStatus CheckTableName(std::string_view backend, const std::string& table, std::string* error);

}  // namespace jwtgate::store

#endif  // JWTGATE_STORE_TABLE_NAME_H_
