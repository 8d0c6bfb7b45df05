// The JWS algorithms jwtgate implements (RFC 7518 §3, RFC 8037 §3.1). `none` is not one of them
// and never will be: there is no code path that accepts an unsigned token.
#ifndef JWTGATE_ALG_H_
#define JWTGATE_ALG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jwtgate {

enum class Alg : uint8_t {
  kHS256,
  kHS384,
  kHS512,
  kRS256,
  kRS384,
  kRS512,
  kPS256,
  kPS384,
  kPS512,
  kES256,
  kES384,
  kES512,
  kEdDSA,
};

inline constexpr size_t kAlgCount = 13;

inline constexpr std::array<Alg, kAlgCount> kAllAlgs = {
    Alg::kHS256, Alg::kHS384, Alg::kHS512, Alg::kRS256, Alg::kRS384, Alg::kRS512, Alg::kPS256,
    Alg::kPS384, Alg::kPS512, Alg::kES256, Alg::kES384, Alg::kES512, Alg::kEdDSA};

enum class AlgFamily : uint8_t { kHmac, kRsaPkcs1, kRsaPss, kEcdsa, kEdDsa };

// What each algorithm is, in the order of Alg: a table (the hot path reads it by index).
struct AlgTraits {
  std::string_view name;
  AlgFamily family;
  // Digest length in bytes of the hash the algorithm uses (SHA-256/384/512); 64 for EdDSA
  // (SHA-512 inside Ed25519).
  size_t digest_size;
};

inline constexpr std::array<AlgTraits, kAlgCount> kAlgTraits = {{
    {"HS256", AlgFamily::kHmac, 32},
    {"HS384", AlgFamily::kHmac, 48},
    {"HS512", AlgFamily::kHmac, 64},
    {"RS256", AlgFamily::kRsaPkcs1, 32},
    {"RS384", AlgFamily::kRsaPkcs1, 48},
    {"RS512", AlgFamily::kRsaPkcs1, 64},
    {"PS256", AlgFamily::kRsaPss, 32},
    {"PS384", AlgFamily::kRsaPss, 48},
    {"PS512", AlgFamily::kRsaPss, 64},
    {"ES256", AlgFamily::kEcdsa, 32},
    {"ES384", AlgFamily::kEcdsa, 48},
    {"ES512", AlgFamily::kEcdsa, 64},
    {"EdDSA", AlgFamily::kEdDsa, 64},
}};
static_assert(static_cast<size_t>(Alg::kEdDSA) + 1 == kAlgCount && kAlgTraits[12].name == "EdDSA",
              "kAlgTraits follows the order of Alg");

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
