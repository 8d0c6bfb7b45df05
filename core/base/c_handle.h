// CHandle: a std::unique_ptr for a handle of a C library, released by that library's own
// function, e.g. CHandle<PGresult, PQclear>, CHandle<EVP_PKEY, EVP_PKEY_free> or
// CHandle<CURL, curl_easy_cleanup>. The deleter is stateless, so the pointer stays one word.
// Header only (core/LAYERS.md).
#ifndef JWTGATE_BASE_C_HANDLE_H_
#define JWTGATE_BASE_C_HANDLE_H_

#include <memory>

namespace jwtgate::base {

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

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_C_HANDLE_H_
