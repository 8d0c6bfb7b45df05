// Shared pieces of the fuzz targets: the fixed trust configuration, and oracles that check a
// verdict of the library without using the library's own code for the property checked.
//
// An oracle failure is a finding: Fail() prints what was violated and aborts, which libFuzzer
// (and the corpus replay test) reports like a crash.
#ifndef JWTGATE_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define JWTGATE_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/verifier.h"

namespace jwtgate::fuzz {

// The injected clock of every verifying target (2023-11-14T22:13:20Z).
inline constexpr int64_t kNow = 1'700'000'000;

[[noreturn]] void Fail(std::string_view what, std::string_view detail = {});

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The key set of fuzz_keys.h, imported through the JWKS path. Aborts if it does not import.
std::shared_ptr<const KeySet> FixedKeySet();

// The strict policy the verifying targets use: issuers "https://issuer.example" and
// "https://other.example", audiences "api" and "web", exp required, 30 s leeway, at most one
// day of lifetime, `sub` required.
ClaimsPolicy StrictPolicy();

// Strict base64url (RFC 7515 §2: no padding, no other characters, zero trailing bits), written
// independently of the library's decoder.
bool StrictBase64UrlDecode(std::string_view in, std::string* out);
std::string Base64UrlEncode(std::string_view bytes);

// Checks the signature of a compact token with OpenSSL directly, with the key that the fixed
// configuration binds to (alg, kid): true only when the signature over token[0 .. second dot)
// verifies. A token without kid selects the single key of its alg (none for EdDSA, which has
// two keys).
bool IndependentSignatureCheck(std::string_view token, Alg alg, bool has_kid,
                               std::string_view kid);

// Checks, with an independent JSON parser (nlohmann/json), that a token accepted at `now`
// under `policy` satisfies it: the header names the alg (and kid) the Verifier reported, and
// the payload's exp/nbf/iat, iss, aud, sub/jti types and required claims obey the policy.
// Fails (aborts) with the violated rule otherwise.
void CheckAcceptedClaims(std::string_view header_json, const Claims& claims,
                         const ClaimsPolicy& policy, int64_t now);

}  // namespace jwtgate::fuzz

#endif  // JWTGATE_TESTS_FUZZ_FUZZ_SUPPORT_H_
