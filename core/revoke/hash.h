// Keyed hashing of revocation keys.
//
// Every revocation key (an issuer's jti, a subject, an issuer) is reduced to a
// 128-bit Fingerprint made of two independently keyed 64-bit halves:
//
//   lo = FastHash64(...)  the filter hash. wyhash (public domain), a 64x64->128 multiply-fold
//                         hash: a few ns for a 36-byte UUID, computed on every check of a
//                         token with a jti while jti revocations exist.
//   hi = SipHash-2-4      the confirm tag and table slot. A keyed PRF (libsodium), computed only
//                         when the filter answers "maybe" (about 0.1 % of negative checks) and
//                         when a revocation is written.
//
// Both halves are keyed with a random secret created with the state directory, so nobody
// without that file can aim keys at one filter block or one table slot.
//
// Collision reasoning. The exact store keeps 128-bit fingerprints, not the ids themselves.
// Two different keys with equal fingerprints would make the store answer "revoked" for the
// second one: a valid token would be refused (never the reverse: a revoked token is always
// found, so a collision cannot let a revoked token through). By accident that needs a 128-bit
// collision: with 10^7 revoked ids and 10^12 checks, about 10^19 / 2^128 < 10^-19. On purpose
// it needs a token that a trusted issuer signed with a jti (and exp) chosen to collide with a
// revoked one under a secret the attacker does not know; since `hi` is a PRF, each try is a
// blind guess with odds 2^-64 at best, and the prize is the rejection of that same token.
//
// The fingerprints are written to the log and the snapshot, so these functions are part of the
// on-disk format: tests pin their output (revocation_log_test.cc). Never change them in place.
#ifndef JWTGATE_REVOKE_HASH_H_
#define JWTGATE_REVOKE_HASH_H_

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace jwtgate::revoke {

static_assert(std::endian::native == std::endian::little,
              "the revocation hashes and on-disk formats assume a little-endian machine");

// The 48-byte secret of a state directory.
struct HashSecret {
  std::array<uint64_t, 4> fast{};  // FastHash64 secret words (odd)
  std::array<uint8_t, 16> sip{};   // SipHash-2-4 key
};

// A revocation key reduced to 128 bits. `hi` is never 0 (0 marks an empty table slot).
struct Fingerprint {
  uint64_t lo = 0;
  uint64_t hi = 0;
  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
};

// What a fingerprint identifies; part of the hashed input, so keys of different kinds never
// share a fingerprint.
enum class KeyKind : uint8_t {
  kJti = 1,            // (jti, exp) of states written before kIssuerJti; value: the exp
  kSubject = 2,        // any issuer; value: 0
  kIssuerSubject = 3,  // value: byte length of the issuer
  kIssuer = 4,         // value: 0
  kIssuerJti = 5,      // (iss, jti); value: byte length of the issuer
  kAnyIssuerJti = 6,   // jti under every issuer; value: 0
};

namespace hash_internal {

__extension__ using Uint128 = unsigned __int128;

inline uint64_t Read8(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t Read4(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t Read3(const uint8_t* p, size_t k) noexcept {
  return (uint64_t{p[0]} << 16) | (uint64_t{p[k >> 1]} << 8) | p[k - 1];
}
// 64x64 -> 128-bit multiply, returned as (low, high) in place.
inline void Mum(uint64_t* a, uint64_t* b) noexcept {
  const Uint128 r = static_cast<Uint128>(*a) * *b;
  *a = static_cast<uint64_t>(r);
  *b = static_cast<uint64_t>(r >> 64);
}
// The same product folded to 64 bits.
inline uint64_t Mix(uint64_t a, uint64_t b) noexcept {
  Mum(&a, &b);
  return a ^ b;
}

}  // namespace hash_internal

// wyhash (public domain, github.com/wangyi-fudan/wyhash) with a caller-supplied secret.
// Passes SMHasher; not a PRF: its strength here comes from the secret.
// Always inlined: it is on the path of every revocation check, where a call would cost more
// than the hash of a short key.
[[gnu::always_inline]] inline uint64_t FastHash64(const void* data, size_t len, uint64_t seed,
                                                  const std::array<uint64_t, 4>& s) noexcept {
  using hash_internal::Mix;
  using hash_internal::Mum;
  using hash_internal::Read3;
  using hash_internal::Read4;
  using hash_internal::Read8;
  const auto* p = static_cast<const uint8_t*>(data);
  seed ^= Mix(seed ^ s[0], s[1]);
  uint64_t a;
  uint64_t b;
  if (len <= 16) [[likely]] {
    if (len >= 4) [[likely]] {
      a = (Read4(p) << 32) | Read4(p + ((len >> 3) << 2));
      b = (Read4(p + len - 4) << 32) | Read4(p + len - 4 - ((len >> 3) << 2));
    } else if (len > 0) {
      a = Read3(p, len);
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    size_t i = len;
    if (i > 48) [[unlikely]] {
      uint64_t see1 = seed;
      uint64_t see2 = seed;
      do {
        seed = Mix(Read8(p) ^ s[1], Read8(p + 8) ^ seed);
        see1 = Mix(Read8(p + 16) ^ s[2], Read8(p + 24) ^ see1);
        see2 = Mix(Read8(p + 32) ^ s[3], Read8(p + 40) ^ see2);
        p += 48;
        i -= 48;
      } while (i > 48);
      seed ^= see1 ^ see2;
    }
    while (i > 16) {
      seed = Mix(Read8(p) ^ s[1], Read8(p + 8) ^ seed);
      i -= 16;
      p += 16;
    }
    a = Read8(p + i - 16);
    b = Read8(p + i - 8);
  }
  a ^= s[1];
  b ^= seed;
  Mum(&a, &b);
  return Mix(a ^ s[0] ^ len, b ^ s[1]);
}

// wyhash's default secret (_wyp); with it FastHash64 reproduces the test vectors published
// with wyhash (revocation_log_test.cc). For hashing that needs no key: tests, benchmarks.
inline constexpr std::array<uint64_t, 4> kDefaultFastSecret = {
    0xa0761d6478bd642full, 0xe7037ed1a0b428dbull, 0x8ebc6af09c88c6e3ull, 0x589965cc75374cc3ull};

inline uint64_t Hash64(std::string_view data, uint64_t seed = 0) noexcept {
  return FastHash64(data.data(), data.size(), seed, kDefaultFastSecret);
}

// Computes fingerprints of revocation keys under one state's secret. Immutable after
// construction; safe to share between threads.
class KeyHasher {
 public:
  explicit KeyHasher(const HashSecret& secret) noexcept : secret_(secret) {}

  // `lo` of the key (kind, value, a, b). For kIssuerSubject and kIssuerJti `a` is the issuer
  // and `b` the subject or jti; every other kind uses `a` alone and passes an empty `b`.
  // Always inlined, as FastHash64: it is on the path of every check.
  [[gnu::always_inline]] uint64_t Lo(KeyKind kind, uint64_t value, std::string_view a,
                                     std::string_view b = {}) const noexcept {
    const uint64_t prefix = LoPrefix(kind, value, a);
    return b.empty() ? prefix : LoContinue(prefix, b);
  }
  // Lo in two steps, for callers that hash many keys sharing `a` (the tokens of one issuer in
  // a batch): Lo(kind, value, a, b) == LoContinue(LoPrefix(kind, value, a), b) for every
  // non-empty `b`.
  [[gnu::always_inline]] uint64_t LoPrefix(KeyKind kind, uint64_t value,
                                           std::string_view a) const noexcept {
    const uint64_t seed = (uint64_t{static_cast<uint8_t>(kind)} * 0x9e3779b97f4a7c15ull) ^ value;
    return FastHash64(a.data(), a.size(), seed, secret_.fast);
  }
  [[gnu::always_inline]] uint64_t LoContinue(uint64_t prefix, std::string_view b) const noexcept {
    return FastHash64(b.data(), b.size(), prefix, secret_.fast);
  }
  // `hi` of the same key (SipHash-2-4; BLAKE2b for keys longer than 480 bytes). Never 0.
  uint64_t Hi(KeyKind kind, uint64_t value, std::string_view a,
              std::string_view b = {}) const noexcept;

  Fingerprint Of(KeyKind kind, uint64_t value, std::string_view a,
                 std::string_view b = {}) const noexcept {
    return {Lo(kind, value, a, b), Hi(kind, value, a, b)};
  }

  // Fingerprint of the jti of a token whose exp claim is `exp`, as states written before
  // kIssuerJti keyed it.
  Fingerprint LegacyJti(std::string_view jti, int64_t exp) const noexcept {
    return Of(KeyKind::kJti, static_cast<uint64_t>(exp), jti);
  }
  // Fingerprint of a jti revoked within issuer `iss`.
  Fingerprint IssuerJti(std::string_view iss, std::string_view jti) const noexcept {
    return Of(KeyKind::kIssuerJti, iss.size(), iss, jti);
  }
  // Fingerprint of a jti revoked under every issuer.
  Fingerprint AnyIssuerJti(std::string_view jti) const noexcept {
    return Of(KeyKind::kAnyIssuerJti, 0, jti);
  }

  const HashSecret& secret() const noexcept { return secret_; }

 private:
  HashSecret secret_;
};

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_HASH_H_
