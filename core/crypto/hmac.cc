#include "crypto/hmac.h"

#define OPENSSL_SUPPRESS_DEPRECATED  // low-level SHA contexts: see hmac.h
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstring>
#include <new>

namespace jwtgate::crypto {
namespace {

static_assert(sizeof(SHA256_CTX) <= 256 && sizeof(SHA512_CTX) <= 256);

bool IsSha256(Alg a) { return a == Alg::kHS256; }

}  // namespace

HmacKey::HmacKey(Alg alg) noexcept : alg_(alg), tag_size_(DigestSize(alg)) {}

std::unique_ptr<HmacKey> HmacKey::Create(Alg alg, std::span<const uint8_t> secret) noexcept {
  std::unique_ptr<HmacKey> k(new (std::nothrow) HmacKey(alg));
  if (k == nullptr) return nullptr;
  const size_t block = IsSha256(alg) ? SHA256_CBLOCK : SHA512_CBLOCK;
  unsigned char key[SHA512_CBLOCK] = {0};
  // Every SHA-2 call is checked: the low-level functions return 1 on success, and a state
  // built from a failed call would make a key that computes wrong tags.
  bool ok = true;
  if (secret.size() > block) {
    switch (alg) {
      case Alg::kHS256:
        ok = SHA256(secret.data(), secret.size(), key) != nullptr;
        break;
      case Alg::kHS384:
        ok = SHA384(secret.data(), secret.size(), key) != nullptr;
        break;
      default:
        ok = SHA512(secret.data(), secret.size(), key) != nullptr;
        break;
    }
  } else if (!secret.empty()) {
    std::memcpy(key, secret.data(), secret.size());
  }
  unsigned char ipad[SHA512_CBLOCK], opad[SHA512_CBLOCK];
  for (size_t i = 0; i < block; ++i) {
    ipad[i] = static_cast<unsigned char>(key[i] ^ 0x36);
    opad[i] = static_cast<unsigned char>(key[i] ^ 0x5c);
  }
  if (ok && IsSha256(alg)) {
    auto* in = reinterpret_cast<SHA256_CTX*>(k->inner_);
    auto* out = reinterpret_cast<SHA256_CTX*>(k->outer_);
    ok = SHA256_Init(in) == 1 && SHA256_Update(in, ipad, block) == 1 && SHA256_Init(out) == 1 &&
         SHA256_Update(out, opad, block) == 1;
  } else if (ok) {
    auto* in = reinterpret_cast<SHA512_CTX*>(k->inner_);
    auto* out = reinterpret_cast<SHA512_CTX*>(k->outer_);
    ok = alg == Alg::kHS384 ? SHA384_Init(in) == 1 && SHA384_Init(out) == 1
                            : SHA512_Init(in) == 1 && SHA512_Init(out) == 1;
    ok = ok && SHA512_Update(in, ipad, block) == 1 && SHA512_Update(out, opad, block) == 1;
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
  if (!ok) return nullptr;  // the destructor cleanses the partial states
  return k;
}

HmacKey::~HmacKey() {
  OPENSSL_cleanse(inner_, sizeof inner_);
  OPENSSL_cleanse(outer_, sizeof outer_);
}

bool HmacKey::Compute(std::string_view message, uint8_t* tag) const noexcept {
  unsigned char inner_digest[SHA512_DIGEST_LENGTH];
  bool ok;
  if (IsSha256(alg_)) {
    SHA256_CTX c;
    std::memcpy(&c, inner_, sizeof c);
    ok = SHA256_Update(&c, message.data(), message.size()) == 1 &&
         SHA256_Final(inner_digest, &c) == 1;
    std::memcpy(&c, outer_, sizeof c);
    ok = ok && SHA256_Update(&c, inner_digest, SHA256_DIGEST_LENGTH) == 1 &&
         SHA256_Final(tag, &c) == 1;
    OPENSSL_cleanse(&c, sizeof c);
  } else {
    SHA512_CTX c;
    std::memcpy(&c, inner_, sizeof c);
    ok = SHA512_Update(&c, message.data(), message.size()) == 1 &&
         (alg_ == Alg::kHS384 ? SHA384_Final(inner_digest, &c) : SHA512_Final(inner_digest, &c)) ==
             1;
    std::memcpy(&c, outer_, sizeof c);
    ok = ok && SHA512_Update(&c, inner_digest, tag_size_) == 1 &&
         (alg_ == Alg::kHS384 ? SHA384_Final(tag, &c) : SHA512_Final(tag, &c)) == 1;
    OPENSSL_cleanse(&c, sizeof c);
  }
  OPENSSL_cleanse(inner_digest, sizeof inner_digest);
  // Never leave a stale or partial tag behind: a caller that ignored the result would compare
  // against zeros, which no honest signature equals by chance.
  if (!ok) std::memset(tag, 0, tag_size_);
  return ok;
}

bool HmacKey::Verify(std::string_view message, const uint8_t* tag) const noexcept {
  unsigned char expected[SHA512_DIGEST_LENGTH];
  if (!Compute(message, expected)) return false;
  return CRYPTO_memcmp(expected, tag, tag_size_) == 0;
}

}  // namespace jwtgate::crypto
