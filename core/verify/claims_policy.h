// Claims extraction and policy checks over a verified payload (private to verify/).
#ifndef JWTGATE_VERIFY_CLAIMS_POLICY_H_
#define JWTGATE_VERIFY_CLAIMS_POLICY_H_

#include <simdjson.h>

#include <cstdint>

#include "jwtgate/claims.h"
#include "jwtgate/status.h"

namespace jwtgate::verify {

// Largest NumericDate accepted: 2^53 - 1, the largest integer every JSON implementation
// represents exactly (RFC 7493 §2.2). Larger, negative or non-finite values are invalid.
inline constexpr int64_t kMaxNumericDate = (int64_t{1} << 53) - 1;

// Reads the registered claims of `payload` into `claims` (type checks included) and applies
// `policy` at time `now`. The caller has already set claims->alg/kid/typ from the header.
[[nodiscard]] Status ExtractAndCheckClaims(simdjson::dom::object payload,
                                           const ClaimsPolicy& policy, int64_t now,
                                           Claims* claims) noexcept;

// Media-type comparison for `typ` (ClaimsPolicy::typ): case-insensitive, with "application/"
// implied when there is no '/', so "at+jwt" matches "application/at+jwt".
bool TypMatches(std::string_view configured, std::string_view received) noexcept;

// The time part of the policy alone (exp with leeway), for re-checks of cached claims.
[[nodiscard]] Status CheckExpiry(const Claims& claims, const ClaimsPolicy& policy,
                                 int64_t now) noexcept;

}  // namespace jwtgate::verify

#endif  // JWTGATE_VERIFY_CLAIMS_POLICY_H_
