// The elliptic curves of ES256, ES384 and ES512, in one table: the algorithm each curve is
// bound to (RFC 7518 §3.4), its JWK "crv" name (§6.2.1.1), its OpenSSL group name and NID, and
// its coordinate size, which is also the size of each of r and s in a JWS signature. Key
// import, signing and verification all read these facts from here.
//
// Thread safety: constant data and pure functions.
#ifndef JWTGATE_CRYPTO_EC_CURVES_H_
#define JWTGATE_CRYPTO_EC_CURVES_H_

#include <openssl/obj_mac.h>

#include <array>
#include <cstddef>
#include <string_view>

#include "jwtgate/alg.h"

namespace jwtgate::crypto {

struct EcCurve {
  Alg alg;                 // the one algorithm keys on this curve are used with
  const char* jwk_name;    // JWK "crv": "P-256"; also accepted by OpenSSL as a group name
  const char* group_name;  // OpenSSL group (OSSL_PKEY_PARAM_GROUP_NAME): "prime256v1"
  int nid;                 // OpenSSL NID: NID_X9_62_prime256v1
  size_t coord_size;       // bytes of x and y in a JWK, and of r and s in a signature
};

inline constexpr std::array<EcCurve, 3> kEcCurves = {{
    {Alg::kES256, "P-256", "prime256v1", NID_X9_62_prime256v1, 32},
    {Alg::kES384, "P-384", "secp384r1", NID_secp384r1, 48},
    {Alg::kES512, "P-521", "secp521r1", NID_secp521r1, 66},
}};

// The largest coord_size: bounds stack buffers for signatures.
inline constexpr size_t kMaxEcCoordSize = [] {
  size_t m = 0;
  for (const EcCurve& c : kEcCurves) m = c.coord_size > m ? c.coord_size : m;
  return m;
}();

// The curve of an ES algorithm; null for any other algorithm.
constexpr const EcCurve* EcCurveForAlg(Alg alg) noexcept {
  for (const EcCurve& c : kEcCurves) {
    if (c.alg == alg) return &c;
  }
  return nullptr;
}

// The curve with JWK name `crv` ("P-256"; exact, case-sensitive); null when not supported.
constexpr const EcCurve* EcCurveForJwkName(std::string_view crv) noexcept {
  for (const EcCurve& c : kEcCurves) {
    if (crv == c.jwk_name) return &c;
  }
  return nullptr;
}

// The curve with OpenSSL group name `group` ("prime256v1"); null when not supported.
constexpr const EcCurve* EcCurveForGroup(std::string_view group) noexcept {
  for (const EcCurve& c : kEcCurves) {
    if (group == c.group_name) return &c;
  }
  return nullptr;
}

// JWS ECDSA signature size (r || s) for an ES algorithm; 0 for any other algorithm.
constexpr size_t EcdsaSignatureSize(Alg alg) noexcept {
  const EcCurve* c = EcCurveForAlg(alg);
  return c != nullptr ? 2 * c->coord_size : 0;
}

}  // namespace jwtgate::crypto

#endif  // JWTGATE_CRYPTO_EC_CURVES_H_
