// The JWS algorithms jwtgate implements (RFC 7518 §3, RFC 8037 §3.1). `none` is not one of them
// and never will be: there is no code path that accepts an unsigned token.
#ifndef JWTGATE_ALG_H_
#define JWTGATE_ALG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jwtgate {

// Every algorithm, one family a line: X(name, family, digest bytes). The digest is that of the
// hash the algorithm uses (SHA-256/384/512); 64 for EdDSA (SHA-512 inside Ed25519). Alg,
// kAllAlgs and kAlgTraits are all expanded from this one list (as status.h's are), so their
// orders cannot drift apart. (Not reformatted: one family a line is the point.)
// clang-format off
#define JWTGATE_ALG_LIST(X)                                               \
  X(HS256, kHmac, 32)     X(HS384, kHmac, 48)     X(HS512, kHmac, 64)     \
  X(RS256, kRsaPkcs1, 32) X(RS384, kRsaPkcs1, 48) X(RS512, kRsaPkcs1, 64) \
  X(PS256, kRsaPss, 32)   X(PS384, kRsaPss, 48)   X(PS512, kRsaPss, 64)   \
  X(ES256, kEcdsa, 32)    X(ES384, kEcdsa, 48)    X(ES512, kEcdsa, 64)    \
  X(EdDSA, kEdDsa, 64)
// clang-format on

#define JWTGATE_ALG_ENUMERATOR(name, family, digest) k##name,
enum class Alg : uint8_t { JWTGATE_ALG_LIST(JWTGATE_ALG_ENUMERATOR) };
#undef JWTGATE_ALG_ENUMERATOR

#define JWTGATE_ALG_VALUE(name, family, digest) Alg::k##name,
inline constexpr std::array kAllAlgs{JWTGATE_ALG_LIST(JWTGATE_ALG_VALUE)};
#undef JWTGATE_ALG_VALUE

inline constexpr size_t kAlgCount = kAllAlgs.size();

enum class AlgFamily : uint8_t { kHmac, kRsaPkcs1, kRsaPss, kEcdsa, kEdDsa };

// What each algorithm is, in the order of Alg: a table (the hot path reads it by index).
struct AlgTraits {
  std::string_view name;  // as in the JOSE header's "alg" (RFC 7518 §3.1)
  AlgFamily family;
  size_t digest_size;  // bytes
};

#define JWTGATE_ALG_TRAITS(name, family, digest) AlgTraits{#name, AlgFamily::family, digest},
inline constexpr std::array<AlgTraits, kAlgCount> kAlgTraits = {
    JWTGATE_ALG_LIST(JWTGATE_ALG_TRAITS)};
#undef JWTGATE_ALG_TRAITS

constexpr std::string_view AlgName(Alg a) noexcept {
  return kAlgTraits[static_cast<size_t>(a)].name;
}

// Byte-exact, case-sensitive match (RFC 7515 §4.1.1 values are case-sensitive; "none", "None",
// "hs256" and "EdDSA " all fail). Returns false when `name` is not an implemented algorithm.
constexpr bool AlgFromName(std::string_view name, Alg* out) noexcept {
  for (Alg a : kAllAlgs) {
    if (AlgName(a) == name) {
      *out = a;
      return true;
    }
  }
  return false;
}

constexpr AlgFamily FamilyOf(Alg a) noexcept { return kAlgTraits[static_cast<size_t>(a)].family; }

constexpr size_t DigestSize(Alg a) noexcept {
  return kAlgTraits[static_cast<size_t>(a)].digest_size;
}

// A set of algorithms, one bit each.
class AlgSet {
 public:
  constexpr AlgSet() = default;
  static constexpr AlgSet All() { return AlgSet((1u << kAlgCount) - 1); }
  constexpr void Add(Alg a) { bits_ |= Bit(a); }
  constexpr bool Contains(Alg a) const { return (bits_ & Bit(a)) != 0; }
  constexpr bool Empty() const { return bits_ == 0; }

 private:
  constexpr explicit AlgSet(uint32_t bits) : bits_(bits) {}
  static constexpr uint32_t Bit(Alg a) { return 1u << static_cast<unsigned>(a); }
  uint32_t bits_ = 0;
};

}  // namespace jwtgate

#endif  // JWTGATE_ALG_H_
