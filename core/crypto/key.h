// Key: one trusted verification key bound to exactly one algorithm (security rule 1). Built by
// the importers (crypto/jwk_import.h) after validation; immutable afterwards and shared
// between threads.
#ifndef JWTGATE_CRYPTO_KEY_H_
#define JWTGATE_CRYPTO_KEY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "crypto/hmac.h"
#include "crypto/signature.h"
#include "jwtgate/alg.h"

namespace jwtgate {

class Key {
 public:
  // REQUIRES for each factory: the material was validated for `alg` (see crypto/jwk_import.h).
  // MakeHmac and MakeEvp return null when OpenSSL fails while the key is being prepared; the
  // importer turns that into kInternalError (fail closed, never a half-built key).
  static std::unique_ptr<Key> MakeHmac(Alg alg, std::span<const uint8_t> secret,
                                       std::optional<std::string> kid);
  // Takes ownership of `pkey`.
  static std::unique_ptr<Key> MakeEvp(EVP_PKEY* pkey, Alg alg, std::optional<std::string> kid);
  static std::unique_ptr<Key> MakeEd25519(const uint8_t pk[32], std::optional<std::string> kid);

  Alg alg() const noexcept { return alg_; }
  bool has_kid() const noexcept { return has_kid_; }
  const std::string& kid() const noexcept { return kid_; }
  // The issuer the key speaks for ("" : any accepted issuer), and whether it only names a
  // failure (JwksOptions::issuer, fail_closed). Set by the importer before the key is shared.
  const std::string& issuer() const noexcept { return issuer_; }
  bool fail_closed() const noexcept { return fail_closed_; }
  void Bind(std::string issuer, bool fail_closed) {
    issuer_ = std::move(issuer);
    fail_closed_ = fail_closed;
  }

  // Exact decoded signature length a JWS for this key must carry.
  size_t signature_size() const noexcept { return sig_size_; }

  // True only for a valid signature. REQUIRES: sig_len == signature_size().
  bool VerifySignature(std::string_view signing_input, const uint8_t* sig,
                       size_t sig_len) const noexcept {
    switch (FamilyOf(alg_)) {
      case AlgFamily::kHmac:
        return hmac_->Verify(signing_input, sig);
      case AlgFamily::kEdDsa:
        return ed25519_->Verify(signing_input, sig);
      default:
        return evp_->Verify(signing_input, sig, sig_len);
    }
  }

 private:
  Key(Alg alg, std::optional<std::string> kid);
  Alg alg_;
  bool has_kid_;
  std::string kid_;
  std::string issuer_;
  bool fail_closed_ = false;
  size_t sig_size_ = 0;
  std::unique_ptr<crypto::HmacKey> hmac_;
  std::unique_ptr<crypto::EvpVerifier> evp_;
  std::unique_ptr<crypto::Ed25519Verifier> ed25519_;
};

}  // namespace jwtgate

#endif  // JWTGATE_CRYPTO_KEY_H_
