#include "revoke/hash.h"

#include <sodium.h>

namespace jwtgate::revoke {
namespace {

// Keys up to this many bytes are hashed from a stack buffer with one SipHash call.
constexpr size_t kMaxStackKeyBytes = 480;

void PutLe(uint8_t* p, uint64_t v, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

uint64_t KeyHasher::Hi(KeyKind kind, uint64_t value, std::string_view a,
                       std::string_view b) const noexcept {
  // Input: kind (1 byte) | value (8, LE) | len(a) (4, LE) | a | b. The length makes the split
  // between a and b unambiguous.
  uint8_t head[13];
  head[0] = static_cast<uint8_t>(kind);
  PutLe(head + 1, value, 8);
  PutLe(head + 9, a.size(), 4);
  uint8_t out[crypto_generichash_BYTES_MIN];
  const size_t total = sizeof(head) + a.size() + b.size();
  if (total <= kMaxStackKeyBytes) {
    uint8_t buf[kMaxStackKeyBytes];
    std::memcpy(buf, head, sizeof(head));
    if (!a.empty()) std::memcpy(buf + sizeof(head), a.data(), a.size());
    if (!b.empty()) std::memcpy(buf + sizeof(head) + a.size(), b.data(), b.size());
    crypto_shorthash_siphash24(out, buf, total, secret_.sip.data());
  } else {
    // Long keys (rare: a jti is usually a 16-43 byte random string): keyed BLAKE2b, which
    // takes its input in pieces and is a PRF as well.
    crypto_generichash_state st;
    crypto_generichash_init(&st, secret_.sip.data(), secret_.sip.size(), sizeof(out));
    crypto_generichash_update(&st, head, sizeof(head));
    crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(a.data()), a.size());
    crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(b.data()), b.size());
    crypto_generichash_final(&st, out, sizeof(out));
  }
  uint64_t h;
  std::memcpy(&h, out, 8);
  return h == 0 ? 1 : h;
}

}  // namespace jwtgate::revoke
