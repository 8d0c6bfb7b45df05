#include "crypto/key.h"

#include <utility>

namespace jwtgate {

Key::Key(Alg alg, std::optional<std::string> kid)
    : alg_(alg), has_kid_(kid.has_value()), kid_(kid ? std::move(*kid) : std::string()) {}

std::unique_ptr<Key> Key::MakeHmac(Alg alg, std::span<const uint8_t> secret,
                                   std::optional<std::string> kid) {
  std::unique_ptr<Key> k(new Key(alg, std::move(kid)));
  k->hmac_ = crypto::HmacKey::Create(alg, secret);
  if (k->hmac_ == nullptr) return nullptr;
  k->sig_size_ = k->hmac_->tag_size();
  return k;
}

std::unique_ptr<Key> Key::MakeEvp(EVP_PKEY* pkey, Alg alg, std::optional<std::string> kid) {
  std::unique_ptr<Key> k(new Key(alg, std::move(kid)));
  k->evp_ = crypto::EvpVerifier::Create(pkey, alg);
  if (k->evp_ == nullptr) return nullptr;
  k->sig_size_ = k->evp_->signature_size();
  return k;
}

std::unique_ptr<Key> Key::MakeEd25519(const uint8_t pk[32], std::optional<std::string> kid) {
  std::unique_ptr<Key> k(new Key(Alg::kEdDSA, std::move(kid)));
  k->ed25519_ = std::make_unique<crypto::Ed25519Verifier>(pk);
  k->sig_size_ = crypto::Ed25519Verifier::kSignatureSize;
  return k;
}

}  // namespace jwtgate
