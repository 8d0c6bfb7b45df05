// KeySetAccess: the verifier's way to a KeySet's keys. jwtgate/keys.h keeps the Key type out
// of the public API (KeySet::Find is private); the verifier, and the tests of key selection,
// reach it through this private header.
#ifndef JWTGATE_CRYPTO_KEY_SET_ACCESS_H_
#define JWTGATE_CRYPTO_KEY_SET_ACCESS_H_

#include <string_view>

#include "crypto/key.h"
#include "jwtgate/keys.h"

namespace jwtgate::crypto {

class KeySetAccess {
 public:
  // KeySet::Find: the key bound to (kid, alg), by the rules stated there.
  [[nodiscard]] static Status Find(const KeySet& set, bool has_kid, std::string_view kid, Alg alg,
                                   const Key** out) noexcept {
    return set.Find(has_kid, kid, alg, out);
  }
};

}  // namespace jwtgate::crypto

#endif  // JWTGATE_CRYPTO_KEY_SET_ACCESS_H_
