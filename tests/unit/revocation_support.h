// What the revocation store's tests share: the options they open stores with and an Open that
// fails the test with the store's own message.
#ifndef JWTGATE_TESTS_UNIT_REVOCATION_SUPPORT_H_
#define JWTGATE_TESTS_UNIT_REVOCATION_SUPPORT_H_

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "jwtgate/revocation.h"

namespace jwtgate::test {

// The store's clock in these tests.
inline constexpr int64_t kStoreNow = 1'800'000'000;

// A store in `dir` at kStoreNow. Without `sync` nothing is fsynced: durability has its own
// tests (crash trials, group commit).
inline RevocationOptions StoreOptions(const std::string& dir, bool sync = false) {
  RevocationOptions o;
  o.dir = dir;
  o.now = kStoreNow;
  o.sync = sync;
  return o;
}

inline std::unique_ptr<RevocationStore> MustOpen(const RevocationOptions& o) {
  std::string error;
  auto s = RevocationStore::Open(o, &error);
  INFO(error);
  REQUIRE(s.ok());
  return std::move(s).value();
}

}  // namespace jwtgate::test

#endif  // JWTGATE_TESTS_UNIT_REVOCATION_SUPPORT_H_
