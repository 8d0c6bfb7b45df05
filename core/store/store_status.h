// StoreStatus: the outcome of a session-store operation (Redis, PostgreSQL, SQLite).
//
// The session stores exist for the strategies benchmark and for revocation sync; they are not
// on libjwtgate's verification path, so they have their own small vocabulary instead of
// jwtgate::Status. Like Status, a StoreStatus is one byte and never allocates; the details of a
// failure (the server's message, errno) go to the store's last_error().
// Names are stable snake_case (ToString) and appear in benchmark results.
#ifndef JWTGATE_STORE_STORE_STATUS_H_
#define JWTGATE_STORE_STORE_STATUS_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace jwtgate::store {

enum class [[nodiscard]] StoreStatus : uint8_t{
    kOk,               // done; for a lookup: the key exists and its value was returned
    kNotFound,         // lookup only: no such key (a normal outcome, not an error)
    kConnectFailed,    // could not connect or authenticate (server absent, wrong socket)
    kIoError,          // the connection failed or timed out during the operation; the store
                       // is unusable afterwards (reconnect by making a new one)
    kServerError,      // the server answered with an error (SQL error, Redis -ERR, SQLITE_BUSY)
    kProtocolError,    // an answer of an unexpected shape (wrong reply type, column count)
    kInvalidArgument,  // the caller's input was refused before reaching the server
};

constexpr std::string_view ToString(StoreStatus s) noexcept {
  // Indexed by StoreStatus.
  constexpr std::string_view kNames[] = {
      "ok",                // kOk
      "not_found",         // kNotFound
      "connect_failed",    // kConnectFailed
      "io_error",          // kIoError
      "server_error",      // kServerError
      "protocol_error",    // kProtocolError
      "invalid_argument",  // kInvalidArgument
  };
  static_assert(std::size(kNames) == static_cast<size_t>(StoreStatus::kInvalidArgument) + 1);
  const auto i = static_cast<size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

}  // namespace jwtgate::store

#endif  // JWTGATE_STORE_STORE_STATUS_H_
