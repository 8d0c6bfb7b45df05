// ConstantTimeEquals: equality of the bytes, whatever the position of a difference.
#include "base/constant_time.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace jwtgate::base {
namespace {

using namespace std::string_view_literals;

TEST_CASE("ConstantTimeEquals compares every byte", "[constant_time]") {
  const std::string secret = "s3cr3t-admin-token-0123456789abcdef";
  CHECK(ConstantTimeEquals(secret, secret));
  CHECK(ConstantTimeEquals(secret, std::string(secret)));
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("a\0b"sv, "a\0b"sv));
  CHECK_FALSE(ConstantTimeEquals("a\0b"sv, "a\0c"sv));
  // A difference in each position, including the first and the last byte.
  for (size_t i = 0; i < secret.size(); ++i) {
    std::string other = secret;
    other[i] = static_cast<char>(other[i] ^ 0x01);
    CHECK_FALSE(ConstantTimeEquals(secret, other));
  }
  // A prefix is not equal, in either order.
  CHECK_FALSE(ConstantTimeEquals(secret, secret.substr(0, secret.size() - 1)));
  CHECK_FALSE(ConstantTimeEquals(secret.substr(0, secret.size() - 1), secret));
  CHECK_FALSE(ConstantTimeEquals("", "x"));
}

}  // namespace
}  // namespace jwtgate::base
