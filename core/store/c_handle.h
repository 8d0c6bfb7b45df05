// CHandle: a std::unique_ptr for a handle of a C client library, released by that library's own
// function, e.g. CHandle<PGresult, PQclear> or CHandle<sqlite3_stmt, sqlite3_finalize>.
#ifndef JWTGATE_STORE_C_HANDLE_H_
#define JWTGATE_STORE_C_HANDLE_H_

#include <memory>

namespace jwtgate::store {

// Calls `Free` on a non-null handle (std::unique_ptr never passes null to its deleter).
template <auto Free>
struct CallFree {
  template <typename T>
  void operator()(T* handle) const noexcept {
    Free(handle);
  }
};

template <typename T, auto Free>
using CHandle = std::unique_ptr<T, CallFree<Free>>;

}  // namespace jwtgate::store

#endif  // JWTGATE_STORE_C_HANDLE_H_
