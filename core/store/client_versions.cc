#include "store/client_versions.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <sqlite3.h>

namespace jwtgate::store {

std::string HiredisVersion() {
  return std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR) + "." +
         std::to_string(HIREDIS_PATCH);
}

std::string LibpqVersion() {
  const int v = PQlibVersion();  // major * 10000 + minor since PostgreSQL 10
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000);
}

std::string SqliteVersion() { return sqlite3_libversion(); }

}  // namespace jwtgate::store
