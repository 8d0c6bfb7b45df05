#include "verify/claims_policy.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jwtgate {

namespace {

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// RFC 7515 §4.1.9: "application/" may be omitted when no other '/' appears.
std::string_view StripApplication(std::string_view t, bool* ok) {
  *ok = true;
  constexpr std::string_view kPrefix = "application/";
  if (t.find('/') == std::string_view::npos) return t;
  if (t.size() > kPrefix.size() && EqualsIgnoreCase(t.substr(0, kPrefix.size()), kPrefix)) {
    std::string_view rest = t.substr(kPrefix.size());
    if (rest.find('/') == std::string_view::npos) return rest;
  }
  *ok = false;  // another top-level type: compare whole
  return t;
}

}  // namespace

namespace verify {

bool TypMatches(std::string_view configured, std::string_view received) noexcept {
  if (configured.empty() || received.empty()) return false;
  bool ok_c = false, ok_r = false;
  std::string_view c = StripApplication(configured, &ok_c);
  std::string_view r = StripApplication(received, &ok_r);
  if (ok_c != ok_r) return false;
  return EqualsIgnoreCase(c, r);
}

namespace {

// NumericDate (RFC 7519 §2): a JSON number, in [0, 2^53); fractions truncated toward zero.
bool ReadNumericDate(simdjson::dom::element e, int64_t* out) noexcept {
  switch (e.type()) {
    case simdjson::dom::element_type::INT64: {
      const int64_t v = int64_t(e);
      if (v < 0 || v > kMaxNumericDate) return false;
      *out = v;
      return true;
    }
    case simdjson::dom::element_type::UINT64: {
      const uint64_t v = uint64_t(e);
      if (v > static_cast<uint64_t>(kMaxNumericDate)) return false;
      *out = static_cast<int64_t>(v);
      return true;
    }
    case simdjson::dom::element_type::DOUBLE: {
      const double v = double(e);
      if (!std::isfinite(v) || v < 0.0 || v >= 9007199254740992.0) return false;
      *out = static_cast<int64_t>(v);
      return true;
    }
    default:
      return false;
  }
}

// Saturating arithmetic: `now` and the leeway come from configuration and callers, and must
// not wrap around into a pass.
int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}
int64_t SatSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? INT64_MAX : INT64_MIN;
  return r;
}

// now - leeway >= exp.
bool IsExpired(int64_t exp, int64_t now, int64_t leeway) { return SatSub(now, leeway) >= exp; }

bool ContainsExact(const std::vector<std::string>& list, std::string_view v) {
  for (const auto& s : list) {
    if (s == v) return true;
  }
  return false;
}

// A three-letter name as one integer, so that the registered claims are told apart by one
// switch instead of a chain of string compares.
constexpr uint32_t ClaimName3(std::string_view k) noexcept {
  return uint32_t{static_cast<uint8_t>(k[0])} | uint32_t{static_cast<uint8_t>(k[1])} << 8 |
         uint32_t{static_cast<uint8_t>(k[2])} << 16;
}

// RFC 7519 §4.1.3: a string or a non-empty array of strings; `*match` when one of them is in
// `audiences`.
Status MatchAudience(simdjson::dom::element v, const std::vector<std::string>& audiences,
                     bool* match) noexcept {
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) {
    *match = ContainsExact(audiences, s);
    return Status::kOk;
  }
  if (v.type() != simdjson::dom::element_type::ARRAY) return Status::kAudInvalid;
  size_t count = 0;
  for (auto a : simdjson::dom::array(v)) {
    if (a.get_string().get(s) != simdjson::SUCCESS) return Status::kAudInvalid;
    *match = *match || ContainsExact(audiences, s);
    ++count;
  }
  return count == 0 ? Status::kAudInvalid : Status::kOk;
}

}  // namespace

Status CheckExpiry(const Claims& c, const ClaimsPolicy& policy, int64_t now) noexcept {
  if (c.has_exp && IsExpired(c.exp, now, policy.leeway_s)) return Status::kExpired;
  return Status::kOk;
}

Status ExtractAndCheckClaims(simdjson::dom::object payload, const ClaimsPolicy& policy, int64_t now,
                             Claims* c) noexcept {
  // One store each: a chained assignment reads back what it just wrote, and a 16-byte load
  // of two 8-byte stores does not forward.
  c->iss = {};
  c->sub = {};
  c->jti = {};
  c->has_exp = c->has_nbf = c->has_iat = false;
  c->exp = c->nbf = c->iat = 0;
  bool has_iss = false, has_aud = false, aud_match = false;
  // Bit i set when policy.required_claims[i] is present (up to 64 required names).
  uint64_t required_seen = 0;
  const size_t n_required = policy.required_claims.size() < 64 ? policy.required_claims.size() : 64;

  for (auto field : payload) {
    const std::string_view k = field.key;
    const simdjson::dom::element v = field.value;
    for (size_t i = 0; i < n_required; ++i) {
      if (policy.required_claims[i] == k) required_seen |= uint64_t{1} << i;
    }
    if (k.size() != 3) continue;  // every registered claim name has three letters
    switch (ClaimName3(k)) {
      case ClaimName3("exp"):
        if (!ReadNumericDate(v, &c->exp)) return Status::kExpInvalid;
        c->has_exp = true;
        break;
      case ClaimName3("nbf"):
        if (!ReadNumericDate(v, &c->nbf)) return Status::kNbfInvalid;
        c->has_nbf = true;
        break;
      case ClaimName3("iat"):
        if (!ReadNumericDate(v, &c->iat)) return Status::kIatInvalid;
        c->has_iat = true;
        break;
      case ClaimName3("iss"):
        if (v.get_string().get(c->iss) != simdjson::SUCCESS) return Status::kIssInvalid;
        has_iss = true;
        break;
      case ClaimName3("sub"):
        if (v.get_string().get(c->sub) != simdjson::SUCCESS) return Status::kSubInvalid;
        break;
      case ClaimName3("jti"):
        if (v.get_string().get(c->jti) != simdjson::SUCCESS) return Status::kJtiInvalid;
        break;
      case ClaimName3("aud"):
        has_aud = true;
        if (Status s = MatchAudience(v, policy.audiences, &aud_match); s != Status::kOk) return s;
        break;
      default:
        break;
    }
  }

  // Time (RFC 7519 §4.1.4-6), leeway on every comparison.
  if (!c->has_exp) {
    if (policy.require_exp) return Status::kExpMissing;
  } else if (IsExpired(c->exp, now, policy.leeway_s)) {
    return Status::kExpired;
  }
  if (c->has_nbf && SatAdd(now, policy.leeway_s) < c->nbf) {
    return Status::kNotYetValid;
  }
  if (c->has_iat && SatAdd(now, policy.leeway_s) < c->iat) {
    return Status::kIatInFuture;
  }
  if (policy.max_lifetime_s > 0) {
    if (!c->has_exp) return Status::kExpMissing;
    const int64_t start = c->has_iat ? c->iat : now;
    if (SatSub(c->exp, start) > policy.max_lifetime_s) {
      return Status::kLifetimeTooLong;
    }
  }
  if (!policy.issuers.empty()) {
    if (!has_iss) return Status::kIssMissing;
    if (!ContainsExact(policy.issuers, c->iss)) return Status::kIssNotAllowed;
  }
  if (!policy.audiences.empty()) {
    if (!has_aud) return Status::kAudMissing;
    if (!aud_match) return Status::kAudNotAllowed;
  }
  if (!policy.typ.empty()) {
    if (!c->has_typ) return Status::kTypMissing;
    if (!TypMatches(policy.typ, c->typ)) return Status::kTypMismatch;
  }
  if (n_required != 0 &&
      required_seen != (n_required == 64 ? ~uint64_t{0} : (uint64_t{1} << n_required) - 1)) {
    return Status::kRequiredClaimMissing;
  }
  // Beyond the first 64 names (an unusual policy): one lookup each.
  for (size_t i = n_required; i < policy.required_claims.size(); ++i) {
    simdjson::dom::element unused;
    if (payload[policy.required_claims[i]].get(unused) != simdjson::SUCCESS) {
      return Status::kRequiredClaimMissing;
    }
  }
  return Status::kOk;
}

}  // namespace verify
}  // namespace jwtgate
