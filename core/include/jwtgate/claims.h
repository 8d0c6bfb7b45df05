// The verified claims of a token, and the policy they are checked against.
#ifndef JWTGATE_CLAIMS_H_
#define JWTGATE_CLAIMS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jwtgate/alg.h"

namespace jwtgate {

// Typed fields of a verified token. Every string_view points into the VerifyContext that
// produced it (or, for `payload_json`, into its decoded payload buffer) and is valid until the
// next Verify call with that context. Copy what must live longer.
struct Claims {
  Alg alg = Alg::kHS256;
  std::string_view kid;  // header kid; empty when absent (has_kid tells)
  std::string_view typ;  // header typ as sent; empty when absent
  std::string_view iss;  // empty when absent
  std::string_view sub;
  std::string_view jti;
  bool has_kid = false;
  bool has_typ = false;
  bool has_exp = false;
  bool has_nbf = false;
  bool has_iat = false;
  // NumericDate values in whole seconds since the epoch; fractions are truncated toward zero
  // (RFC 7519 §2 allows them; truncation makes `exp` earlier, never later).
  int64_t exp = 0;
  int64_t nbf = 0;
  int64_t iat = 0;
  // The decoded payload: a strict JSON object (UTF-8, no duplicate names).
  std::string_view payload_json;
};

// What a token's claims must satisfy. The defaults are the strict ones: `exp` required, 30 s of
// leeway, no issuer/audience/type requirement unless configured.
struct ClaimsPolicy {
  // Accepted issuers, compared byte-exactly. Empty: `iss` is not required (but, when present,
  // must be a string).
  std::vector<std::string> issuers;
  // Accepted audiences. Non-empty: `aud` is required and one of its values (string, or a
  // non-empty array of strings) must equal one of these byte-exactly.
  std::vector<std::string> audiences;
  // Required header `typ` as a media type (RFC 7515 §4.1.9): compared case-insensitively, with
  // "application/" implied when there is no '/', so "at+jwt" matches "application/at+jwt".
  // Empty: `typ` is not checked (but, when present, must be a string).
  std::string typ;
  // Clock skew allowed on exp, nbf and iat, in seconds (>= 0).
  int64_t leeway_s = 30;
  bool require_exp = true;
  // Largest accepted exp - iat (or exp - now when iat is absent), seconds; 0: no limit.
  int64_t max_lifetime_s = 0;
  // Top-level claim names that must be present (any JSON type).
  std::vector<std::string> required_claims;
};

// A claim picked out of a verified payload by a top-level name ("email") or an RFC 6901 JSON
// pointer ("/realm_access/roles"), copied (it outlives the VerifyContext). Strings are unescaped;
// numbers and booleans are kept as their JSON text ("42", "true").
struct ClaimValue {
  enum class Kind : uint8_t {
    kAbsent,  // no such member (or the pointer runs through a non-container)
    kScalar,  // a string, number or boolean: items has one element
    kArray,   // an array: items holds its string, number and boolean elements in order
              // (null, object and array elements are skipped)
    kOther,   // null or an object: items is empty
  };
  Kind kind = Kind::kAbsent;
  std::vector<std::string> items;

  bool operator==(const ClaimValue&) const = default;
};

// Whether `path` names a claim for VerifyContext::Capture: a top-level member name (non-empty,
// not starting with '/'), or an RFC 6901 JSON pointer ('/' then reference tokens in which every
// '~' is followed by '0' or '1'). On false, `*why` (may be null) says what is wrong.
bool IsValidClaimPath(std::string_view path, std::string* why = nullptr);

}  // namespace jwtgate

#endif  // JWTGATE_CLAIMS_H_
