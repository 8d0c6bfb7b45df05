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

constexpr std::string_view AlgName(Alg a) noexcept {
  constexpr std::array<std::string_view, kAlgCount> kNames = {
      "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256",
      "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"};
  return kNames[static_cast<size_t>(a)];
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

constexpr AlgFamily FamilyOf(Alg a) noexcept {
  switch (a) {
    case Alg::kHS256:
    case Alg::kHS384:
    case Alg::kHS512:
      return AlgFamily::kHmac;
    case Alg::kRS256:
    case Alg::kRS384:
    case Alg::kRS512:
      return AlgFamily::kRsaPkcs1;
    case Alg::kPS256:
    case Alg::kPS384:
    case Alg::kPS512:
      return AlgFamily::kRsaPss;
    case Alg::kES256:
    case Alg::kES384:
    case Alg::kES512:
      return AlgFamily::kEcdsa;
    case Alg::kEdDSA:
      return AlgFamily::kEdDsa;
  }
  return AlgFamily::kHmac;
}

// Digest length in bytes of the hash the algorithm uses (SHA-256/384/512); 64 for EdDSA
// (SHA-512 inside Ed25519), used only for sizing.
constexpr size_t DigestSize(Alg a) noexcept {
  switch (a) {
    case Alg::kHS256:
    case Alg::kRS256:
    case Alg::kPS256:
    case Alg::kES256:
      return 32;
    case Alg::kHS384:
    case Alg::kRS384:
    case Alg::kPS384:
    case Alg::kES384:
      return 48;
    default:
      return 64;
  }
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
