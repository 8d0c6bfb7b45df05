// The versions of the database client libraries jwtgate_store is linked with, for result files
// (a figure is read together with the software it was measured with).
#ifndef JWTGATE_STORE_CLIENT_VERSIONS_H_
#define JWTGATE_STORE_CLIENT_VERSIONS_H_

#include <string>

namespace jwtgate::store {

std::string HiredisVersion();  // "0.14.1"
std::string LibpqVersion();    // "15.5" (PQlibVersion)
std::string SqliteVersion();   // "3.40.1" (sqlite3_libversion: the library actually loaded)

}  // namespace jwtgate::store

#endif  // JWTGATE_STORE_CLIENT_VERSIONS_H_
