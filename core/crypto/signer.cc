#include "jwtgate/signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/json_string.h"
#include "crypto/ec_curves.h"
#include "crypto/sha2.h"
#include "jose/base64url.h"
#include "jose/strict_json.h"

namespace jwtgate {

struct Signer::Rep {
  Alg alg;
  std::string secret;        // HS*
  EVP_PKEY* pkey = nullptr;  // others
  ~Rep() {
    OPENSSL_cleanse(secret.data(), secret.size());
    EVP_PKEY_free(pkey);
  }
};

namespace {

bool KeyFitsAlg(EVP_PKEY* pkey, Alg alg) {
  switch (FamilyOf(alg)) {
    case AlgFamily::kRsaPkcs1:
    case AlgFamily::kRsaPss:
      return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA;
    case AlgFamily::kEdDsa:
      return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;
    case AlgFamily::kEcdsa: {
      if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) return false;
      char group[64];
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) != 1) {
        return false;
      }
      const crypto::EcCurve* curve = crypto::EcCurveForAlg(alg);
      return curve != nullptr && std::string_view(group, len) == curve->group_name;
    }
    case AlgFamily::kHmac:
      return false;
  }
  return false;
}

// DER Ecdsa-Sig-Value -> raw r||s, each left-padded to the coordinate size (RFC 7518 §3.4).
bool DerToRaw(const unsigned char* der, size_t der_len, size_t n, std::string* out) {
  const unsigned char* p = der;
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  if (sig == nullptr) return false;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  out->assign(2 * n, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out->data());
  const bool ok = BN_bn2binpad(r, o, static_cast<int>(n)) == static_cast<int>(n) &&
                  BN_bn2binpad(s, o + n, static_cast<int>(n)) == static_cast<int>(n);
  ECDSA_SIG_free(sig);
  return ok;
}

std::string B64(const unsigned char* p, size_t n) {
  std::string out;
  jose::Base64UrlEncode(p, n, &out);
  return out;
}

std::string BnB64(const BIGNUM* bn, size_t pad) {
  const size_t n = pad ? pad : static_cast<size_t>(BN_num_bytes(bn));
  std::vector<unsigned char> buf(n);
  BN_bn2binpad(bn, buf.data(), static_cast<int>(n));
  return B64(buf.data(), n);
}

}  // namespace

Signer::Signer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;
Signer::~Signer() = default;

Alg Signer::alg() const noexcept { return rep_->alg; }

Result<Signer> Signer::FromSecret(std::string_view secret, Alg alg) {
  if (FamilyOf(alg) != AlgFamily::kHmac) return Status::kKeyAlgMismatch;
  if (secret.size() < DigestSize(alg)) return Status::kKeyTooSmall;
  auto rep = std::make_unique<Rep>();
  rep->alg = alg;
  rep->secret = std::string(secret);
  return Signer(std::move(rep));
}

Result<Signer> Signer::FromJwk(std::string_view jwk_json, Alg alg) {
  simdjson::padded_string padded(jwk_json);
  jose::StrictJsonParser parser(jwk_json.size() + 1, 8);
  simdjson::dom::object o;
  if (parser.Parse(reinterpret_cast<const uint8_t*>(padded.data()), padded.size(), &o) !=
      jose::JsonError::kOk) {
    return Status::kJwksBadJson;
  }
  std::string_view kty, k, jwk_alg;
  if (o["kty"].get_string().get(kty) != simdjson::SUCCESS) return Status::kJwkInvalid;
  if (kty != "oct") return Status::kJwkUnsupportedKty;
  if (o["alg"].get_string().get(jwk_alg) == simdjson::SUCCESS && jwk_alg != AlgName(alg)) {
    return Status::kKeyAlgMismatch;
  }
  if (o["k"].get_string().get(k) != simdjson::SUCCESS) return Status::kJwkInvalid;
  std::string secret;
  if (!jose::Base64UrlDecode(k, &secret)) return Status::kJwkInvalid;
  auto r = FromSecret(secret, alg);
  OPENSSL_cleanse(secret.data(), secret.size());
  return r;
}

Result<Signer> Signer::FromPem(std::string_view pem, Alg alg) {
  if (FamilyOf(alg) == AlgFamily::kHmac) return Status::kKeyAlgMismatch;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return Status::kInternalError;
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) return Status::kPemInvalid;
  if (!KeyFitsAlg(pkey, alg)) {
    EVP_PKEY_free(pkey);
    return Status::kKeyAlgMismatch;
  }
  auto rep = std::make_unique<Rep>();
  rep->alg = alg;
  rep->pkey = pkey;
  return Signer(std::move(rep));
}

Result<std::string> Signer::SignRaw(std::string_view header_json,
                                    std::string_view payload_json) const {
  std::string token = jose::Base64UrlEncode(header_json);
  token.push_back('.');
  token += jose::Base64UrlEncode(payload_json);
  const Alg alg = rep_->alg;
  std::string sig;
  if (FamilyOf(alg) == AlgFamily::kHmac) {
    unsigned char tag[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(crypto::Sha2For(alg), rep_->secret.data(), static_cast<int>(rep_->secret.size()),
             reinterpret_cast<const unsigned char*>(token.data()), token.size(), tag,
             &len) == nullptr) {
      return Status::kInternalError;
    }
    sig.assign(reinterpret_cast<char*>(tag), len);
  } else {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    const EVP_MD* digest = FamilyOf(alg) == AlgFamily::kEdDsa ? nullptr : crypto::Sha2For(alg);
    bool ok = md != nullptr && EVP_DigestSignInit(md, &pctx, digest, nullptr, rep_->pkey) == 1;
    if (ok && FamilyOf(alg) == AlgFamily::kRsaPss) {
      ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, crypto::Sha2For(alg)) == 1;
    }
    size_t len = 0;
    const auto* msg = reinterpret_cast<const unsigned char*>(token.data());
    ok = ok && EVP_DigestSign(md, nullptr, &len, msg, token.size()) == 1;
    std::string out(len, '\0');
    ok = ok && EVP_DigestSign(md, reinterpret_cast<unsigned char*>(out.data()), &len, msg,
                              token.size()) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) return Status::kInternalError;
    out.resize(len);
    if (FamilyOf(alg) == AlgFamily::kEcdsa) {
      const crypto::EcCurve* curve = crypto::EcCurveForAlg(alg);
      if (curve == nullptr || !DerToRaw(reinterpret_cast<const unsigned char*>(out.data()),
                                        out.size(), curve->coord_size, &sig)) {
        return Status::kInternalError;
      }
    } else {
      sig = std::move(out);
    }
  }
  token.push_back('.');
  token += jose::Base64UrlEncode(sig);
  return token;
}

Result<std::string> Signer::Sign(std::string_view payload_json, std::optional<std::string_view> kid,
                                 std::optional<std::string_view> typ) const {
  std::string header = "{\"alg\":" + base::JsonString(AlgName(rep_->alg));
  if (typ) header += ",\"typ\":" + base::JsonString(*typ);
  if (kid) header += ",\"kid\":" + base::JsonString(*kid);
  header += "}";
  return SignRaw(header, payload_json);
}

Status GenerateKey(Alg alg, std::optional<std::string_view> kid, std::string* private_out,
                   std::string* public_jwk_out) {
  std::string common = ",\"alg\":" + base::JsonString(AlgName(alg)) + ",\"use\":\"sig\"";
  if (kid) common += ",\"kid\":" + base::JsonString(*kid);
  if (FamilyOf(alg) == AlgFamily::kHmac) {
    std::string secret(DigestSize(alg), '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                   static_cast<int>(secret.size())) != 1) {
      return Status::kInternalError;
    }
    *public_jwk_out =
        "{\"kty\":\"oct\",\"k\":\"" + jose::Base64UrlEncode(secret) + "\"" + common + "}";
    *private_out = *public_jwk_out + "\n";
    OPENSSL_cleanse(secret.data(), secret.size());
    return Status::kOk;
  }
  EVP_PKEY* pkey = nullptr;
  switch (FamilyOf(alg)) {
    case AlgFamily::kRsaPkcs1:
    case AlgFamily::kRsaPss:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
      break;
    case AlgFamily::kEcdsa:
      if (const crypto::EcCurve* curve = crypto::EcCurveForAlg(alg); curve != nullptr) {
        pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve->jwk_name);
      }
      break;
    case AlgFamily::kEdDsa:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case AlgFamily::kHmac:
      break;
  }
  if (pkey == nullptr) return Status::kInternalError;
  Status result = Status::kOk;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    result = Status::kInternalError;
  } else {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    private_out->assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  if (result == Status::kOk) {
    switch (FamilyOf(alg)) {
      case AlgFamily::kRsaPkcs1:
      case AlgFamily::kRsaPss: {
        BIGNUM* n = nullptr;
        BIGNUM* e = nullptr;
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
          result = Status::kInternalError;
        } else {
          *public_jwk_out = "{\"kty\":\"RSA\",\"n\":\"" + BnB64(n, 0) + "\",\"e\":\"" +
                            BnB64(e, 0) + "\"" + common + "}";
        }
        BN_free(n);
        BN_free(e);
        break;
      }
      case AlgFamily::kEcdsa: {
        BIGNUM* x = nullptr;
        BIGNUM* y = nullptr;
        const crypto::EcCurve* curve = crypto::EcCurveForAlg(alg);
        if (curve == nullptr || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
          result = Status::kInternalError;
        } else {
          const size_t c = curve->coord_size;
          *public_jwk_out = std::string("{\"kty\":\"EC\",\"crv\":\"") + curve->jwk_name +
                            "\",\"x\":\"" + BnB64(x, c) + "\",\"y\":\"" + BnB64(y, c) + "\"" +
                            common + "}";
        }
        BN_free(x);
        BN_free(y);
        break;
      }
      default: {
        unsigned char pk[32];
        size_t len = sizeof pk;
        if (EVP_PKEY_get_raw_public_key(pkey, pk, &len) != 1 || len != 32) {
          result = Status::kInternalError;
        } else {
          *public_jwk_out =
              "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" + B64(pk, 32) + "\"" + common + "}";
        }
        break;
      }
    }
  }
  EVP_PKEY_free(pkey);
  return result;
}

}  // namespace jwtgate
