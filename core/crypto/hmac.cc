#include "crypto/hmac.h"

#define OPENSSL_SUPPRESS_DEPRECATED  // low-level SHA contexts: see hmac.h
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstring>

namespace jwtgate::crypto {
namespace {

static_assert(sizeof(SHA256_CTX) <= 256 && sizeof(SHA512_CTX) <= 256);

bool IsSha256(Alg a) { return a == Alg::kHS256; }

}  // namespace

HmacKey::HmacKey(Alg alg, std::span<const uint8_t> secret) noexcept
    : alg_(alg), tag_size_(DigestSize(alg)) {
  const size_t block = IsSha256(alg) ? SHA256_CBLOCK : SHA512_CBLOCK;
  unsigned char key[SHA512_CBLOCK] = {0};
  if (secret.size() > block) {
    switch (alg) {
      case Alg::kHS256: SHA256(secret.data(), secret.size(), key); break;
      case Alg::kHS384: SHA384(secret.data(), secret.size(), key); break;
      default: SHA512(secret.data(), secret.size(), key); break;
    }
  } else if (!secret.empty()) {
    std::memcpy(key, secret.data(), secret.size());
  }
  unsigned char ipad[SHA512_CBLOCK], opad[SHA512_CBLOCK];
  for (size_t i = 0; i < block; ++i) {
    ipad[i] = static_cast<unsigned char>(key[i] ^ 0x36);
    opad[i] = static_cast<unsigned char>(key[i] ^ 0x5c);
  }
  if (IsSha256(alg)) {
    auto* in = reinterpret_cast<SHA256_CTX*>(inner_);
    auto* out = reinterpret_cast<SHA256_CTX*>(outer_);
    SHA256_Init(in);
    SHA256_Update(in, ipad, block);
    SHA256_Init(out);
    SHA256_Update(out, opad, block);
  } else {
    auto* in = reinterpret_cast<SHA512_CTX*>(inner_);
    auto* out = reinterpret_cast<SHA512_CTX*>(outer_);
    if (alg == Alg::kHS384) {
      SHA384_Init(in);
      SHA384_Init(out);
    } else {
      SHA512_Init(in);
      SHA512_Init(out);
    }
    SHA512_Update(in, ipad, block);
    SHA512_Update(out, opad, block);
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
}

HmacKey::~HmacKey() {
  OPENSSL_cleanse(inner_, sizeof inner_);
  OPENSSL_cleanse(outer_, sizeof outer_);
}

void HmacKey::Compute(std::string_view message, uint8_t* tag) const noexcept {
  unsigned char inner_digest[SHA512_DIGEST_LENGTH];
  if (IsSha256(alg_)) {
    SHA256_CTX c;
    std::memcpy(&c, inner_, sizeof c);
    SHA256_Update(&c, message.data(), message.size());
    SHA256_Final(inner_digest, &c);
    std::memcpy(&c, outer_, sizeof c);
    SHA256_Update(&c, inner_digest, SHA256_DIGEST_LENGTH);
    SHA256_Final(tag, &c);
    OPENSSL_cleanse(&c, sizeof c);
  } else {
    SHA512_CTX c;
    std::memcpy(&c, inner_, sizeof c);
    SHA512_Update(&c, message.data(), message.size());
    if (alg_ == Alg::kHS384) {
      SHA384_Final(inner_digest, &c);
    } else {
      SHA512_Final(inner_digest, &c);
    }
    std::memcpy(&c, outer_, sizeof c);
    SHA512_Update(&c, inner_digest, tag_size_);
    if (alg_ == Alg::kHS384) {
      SHA384_Final(tag, &c);
    } else {
      SHA512_Final(tag, &c);
    }
    OPENSSL_cleanse(&c, sizeof c);
  }
}

bool HmacKey::Verify(std::string_view message, const uint8_t* tag) const noexcept {
  unsigned char expected[SHA512_DIGEST_LENGTH];
  Compute(message, expected);
  return CRYPTO_memcmp(expected, tag, tag_size_) == 0;
}

}  // namespace jwtgate::crypto
