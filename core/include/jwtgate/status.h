// Status codes for every outcome of parsing, key import, verification and revocation.
//
// Rejecting a token is a hot path (attack traffic is mostly bad tokens), so a Status is a
// one-byte enum, never an allocation or an exception. Each code has a stable snake_case name
// (ToString) that the CLI prints as `rejected: <name>`, that the daemon puts into
// `WWW-Authenticate: ... error_description="<name>"`, and that metrics use as a label value.
// Names are a public contract: never rename one, only add.
#ifndef JWTGATE_STATUS_H_
#define JWTGATE_STATUS_H_

#include <cstdint>
#include <iterator>
#include <string_view>

#include "jwtgate/named_enum.h"

namespace jwtgate {

#define JWTGATE_STATUS_LIST(X)                                \
  X(kOk, "ok")                                                \
  /* Compact serialization (RFC 7515 §7.1). */               \
  X(kTokenEmpty, "token_empty")                               \
  X(kTokenTooLarge, "token_too_large")                        \
  X(kTokenMalformed, "token_malformed")                       \
  X(kTokenIsJwe, "token_is_jwe")                              \
  /* Protected header. */                                     \
  X(kHeaderBadBase64, "header_bad_base64")                    \
  X(kHeaderTooLarge, "header_too_large")                      \
  X(kHeaderBadJson, "header_bad_json")                        \
  X(kHeaderNotObject, "header_not_object")                    \
  X(kHeaderDuplicateMember, "header_duplicate_member")        \
  X(kAlgMissing, "alg_missing")                               \
  X(kAlgInvalid, "alg_invalid")                               \
  X(kAlgNotAllowed, "alg_not_allowed")                        \
  X(kKidInvalid, "kid_invalid")                               \
  X(kTypInvalid, "typ_invalid")                               \
  X(kCritUnsupported, "crit_unsupported")                     \
  X(kB64Unsupported, "b64_unsupported")                       \
  X(kZipUnsupported, "zip_unsupported")                       \
  X(kNestedJwtUnsupported, "nested_jwt_unsupported")          \
  X(kJweHeaderParameter, "jwe_header_parameter")              \
  /* Key selection by (kid, alg). */                          \
  X(kUnknownKid, "unknown_kid")                               \
  X(kKeyNotFound, "key_not_found")                            \
  X(kKidRequired, "kid_required")                             \
  /* Signature. */                                            \
  X(kSignatureBadBase64, "signature_bad_base64")              \
  X(kSignatureBadLength, "signature_bad_length")              \
  X(kSignatureInvalid, "signature_invalid")                   \
  /* Payload (claims set). */                                 \
  X(kPayloadBadBase64, "payload_bad_base64")                  \
  X(kPayloadTooLarge, "payload_too_large")                    \
  X(kPayloadBadJson, "payload_bad_json")                      \
  X(kPayloadNotObject, "payload_not_object")                  \
  X(kPayloadDuplicateMember, "payload_duplicate_member")      \
  /* Claims policy. */                                        \
  X(kExpInvalid, "exp_invalid")                               \
  X(kNbfInvalid, "nbf_invalid")                               \
  X(kIatInvalid, "iat_invalid")                               \
  X(kIssInvalid, "iss_invalid")                               \
  X(kSubInvalid, "sub_invalid")                               \
  X(kAudInvalid, "aud_invalid")                               \
  X(kJtiInvalid, "jti_invalid")                               \
  X(kExpMissing, "exp_missing")                               \
  X(kExpired, "expired")                                      \
  X(kNotYetValid, "not_yet_valid")                            \
  X(kIatInFuture, "iat_in_future")                            \
  X(kLifetimeTooLong, "lifetime_too_long")                    \
  X(kIssMissing, "iss_missing")                               \
  X(kIssNotAllowed, "iss_not_allowed")                        \
  X(kAudMissing, "aud_missing")                               \
  X(kAudNotAllowed, "aud_not_allowed")                        \
  X(kTypMissing, "typ_missing")                               \
  X(kTypMismatch, "typ_mismatch")                             \
  X(kRequiredClaimMissing, "required_claim_missing")          \
  X(kRevoked, "revoked")                                      \
  /* Key import (JWKS, JWK, PEM). */                          \
  X(kJwksBadJson, "jwks_bad_json")                            \
  X(kJwksTooLarge, "jwks_too_large")                          \
  X(kJwkInvalid, "jwk_invalid")                               \
  X(kJwkUnsupportedKty, "jwk_unsupported_kty")                \
  X(kJwkPrivateMaterial, "jwk_private_material")              \
  X(kKeyAlgMissing, "key_alg_missing")                        \
  X(kKeyAlgMismatch, "key_alg_mismatch")                      \
  X(kKeyUnsupportedCurve, "key_unsupported_curve")            \
  X(kKeyTooSmall, "key_too_small")                            \
  X(kKeyTooLarge, "key_too_large")                            \
  X(kKeyBadExponent, "key_bad_exponent")                      \
  X(kKeyInvalid, "key_invalid")                               \
  X(kKeyUsageMismatch, "key_usage_mismatch")                  \
  X(kKeyDuplicate, "key_duplicate")                           \
  X(kJwkSymmetricNotAllowed, "jwk_symmetric_not_allowed")     \
  X(kPemInvalid, "pem_invalid")                               \
  /* Service. */                                              \
  X(kOverloaded, "overloaded")                                \
  X(kShuttingDown, "shutting_down")                           \
  X(kInternalError, "internal_error")                         \
  /* The token's issuer has not had its keys confirmed */     \
  /* for longer than its maximum staleness: fail closed. */   \
  X(kIssuerKeysStale, "issuer_keys_stale")                    \
  /* Cut off from the fleet's revocations for longer than */  \
  /* allowed, with fail_closed.                            */ \
  X(kRevocationStale, "revocation_stale")                     \
  /* jwtgated's per-route policy (routes:): a verified  */    \
  /* token that lacks what its route requires (403).    */    \
  X(kRouteDenied, "route_denied")                             \
  X(kRouteIssuerNotAllowed, "route_issuer_not_allowed")       \
  X(kRouteAudienceNotAllowed, "route_audience_not_allowed")   \
  X(kRouteScopeMissing, "route_scope_missing")                \
  X(kRouteClaimNotAccepted, "route_claim_not_accepted")       \
  /* The URI the proxy forwarded cannot be matched */         \
  /* safely (a bad escape, an encoded '/' or NUL).  */        \
  X(kRouteUriInvalid, "route_uri_invalid")

enum class [[nodiscard]] Status : uint8_t{JWTGATE_STATUS_LIST(JWTGATE_ENUMERATOR)};

inline constexpr std::string_view kStatusNames[] = {JWTGATE_STATUS_LIST(JWTGATE_ENUM_NAME)};
inline constexpr int kStatusCount = static_cast<int>(std::size(kStatusNames));

// The stable snake_case name of `s`. Never empty; "unknown_status" only for a value that is
// not one of the enumerators (a bug in the caller).
constexpr std::string_view ToString(Status s) noexcept {
  return internal::EnumName(s, kStatusNames, "unknown_status");
}

// Parses a name produced by ToString. Returns false when `name` is not one.
constexpr bool StatusFromString(std::string_view name, Status* out) noexcept {
  return internal::EnumFromName(name, kStatusNames, out);
}

// True for the codes that describe a key-import problem (as opposed to a token problem).
constexpr bool IsKeyImportStatus(Status s) noexcept {
  return s >= Status::kJwksBadJson && s <= Status::kPemInvalid;
}

// True for the codes of a route requirement (answered 403, not 401).
constexpr bool IsRouteStatus(Status s) noexcept {
  return s >= Status::kRouteDenied && s <= Status::kRouteUriInvalid;
}

}  // namespace jwtgate

#endif  // JWTGATE_STATUS_H_
