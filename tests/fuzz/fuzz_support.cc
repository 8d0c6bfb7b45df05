#include "fuzz_support.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "fuzz_keys.h"

namespace jwtgate::fuzz {
namespace {

EVP_PKEY* LoadPublicKey(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) Fail("BIO_new_mem_buf");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) Fail("cannot load a fixed public key");
  return key;
}

struct PublicKeys {
  EVP_PKEY* rs256 = LoadPublicKey(kRs256PublicPem);
  EVP_PKEY* es256 = LoadPublicKey(kEs256PublicPem);
  EVP_PKEY* ed_1 = LoadPublicKey(kEd25519PublicPem);
};

const PublicKeys& Keys() {
  static const PublicKeys* keys = new PublicKeys();  // never freed: lives as long as the process
  return *keys;
}

bool DigestVerify(EVP_PKEY* key, const EVP_MD* md, std::string_view input,
                  const unsigned char* sig, size_t sig_len) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) Fail("EVP_MD_CTX_new");
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, sig, sig_len,
                             reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// JWS ES256 signatures are raw R || S (32 bytes each); OpenSSL verifies DER.
bool VerifyEs256(std::string_view input, const std::string& raw) {
  if (raw.size() != 64) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(p, 32, nullptr);
  BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    Fail("ECDSA_SIG construction");
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (der_len <= 0) Fail("i2d_ECDSA_SIG");
  const bool ok =
      DigestVerify(Keys().es256, EVP_sha256(), input, der, static_cast<size_t>(der_len));
  OPENSSL_free(der);
  return ok;
}

bool VerifyHs256(std::string_view input, const std::string& tag) {
  unsigned char expected[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), kHs256Secret, sizeof(kHs256Secret),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), expected,
           &len) == nullptr) {
    Fail("HMAC");
  }
  return tag.size() == len && CRYPTO_memcmp(tag.data(), expected, len) == 0;
}

// A NumericDate as the policy reads it: a JSON number, not negative, whole seconds toward
// zero. Returns false for anything else (then the Verifier must have refused the token).
bool NumericDate(const nlohmann::json& v, double* out) {
  if (!v.is_number()) return false;
  *out = v.get<double>();
  return std::isfinite(*out) && *out >= 0;
}

bool Contains(const std::vector<std::string>& list, const std::string& s) {
  for (const std::string& e : list) {
    if (e == s) return true;
  }
  return false;
}

}  // namespace

void Fail(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "fuzz oracle: %.*s%s%.*s\n", static_cast<int>(what.size()), what.data(),
               detail.empty() ? "" : ": ", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

std::shared_ptr<const KeySet> FixedKeySet() {
  KeySet::Builder builder;
  const Status s = builder.AddJwks(kJwks);
  if (s != Status::kOk) Fail("the fixed JWKS does not import", ToString(s));
  return builder.Build();
}

ClaimsPolicy StrictPolicy() {
  ClaimsPolicy p;
  p.issuers = {"https://issuer.example", "https://other.example"};
  p.audiences = {"api", "web"};
  p.leeway_s = 30;
  p.require_exp = true;
  p.max_lifetime_s = 86400;
  p.required_claims = {"sub"};
  return p;
}

bool StrictBase64UrlDecode(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    uint32_t v;
    if (c >= 'A' && c <= 'Z') {
      v = static_cast<uint32_t>(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      v = static_cast<uint32_t>(c - 'a' + 26);
    } else if (c >= '0' && c <= '9') {
      v = static_cast<uint32_t>(c - '0' + 52);
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return false;
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits (2 or 4) must be zero: one encoding per byte string.
  return (acc & ((1u << bits) - 1)) == 0;
}

std::string Base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : bytes) {
    acc = (acc << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

bool IndependentSignatureCheck(std::string_view token, Alg alg, bool has_kid,
                               std::string_view kid) {
  const size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return false;
  const size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return false;
  if (token.find('.', dot2 + 1) != std::string_view::npos) return false;
  const std::string_view input = token.substr(0, dot2);
  std::string sig;
  if (!StrictBase64UrlDecode(token.substr(dot2 + 1), &sig)) return false;
  const auto* sig_bytes = reinterpret_cast<const unsigned char*>(sig.data());
  switch (alg) {
    case Alg::kHS256:
      return (!has_kid || kid == "hs-1") && VerifyHs256(input, sig);
    case Alg::kRS256:
      return (!has_kid || kid == "rs-1") &&
             DigestVerify(Keys().rs256, EVP_sha256(), input, sig_bytes, sig.size());
    case Alg::kES256:
      return (!has_kid || kid == "es-1") && VerifyEs256(input, sig);
    case Alg::kEdDSA:
      return has_kid && kid == "ed-1" && sig.size() == 64 &&
             DigestVerify(Keys().ed_1, nullptr, input, sig_bytes, sig.size());
    default:
      return false;  // no key of the fixed set is bound to any other algorithm
  }
}

void CheckAcceptedClaims(std::string_view header_json, const Claims& claims,
                         const ClaimsPolicy& policy, int64_t now) {
  const nlohmann::json header = nlohmann::json::parse(header_json, nullptr, false);
  if (!header.is_object()) Fail("accepted a header that is not a JSON object", header_json);
  if (!header.contains("alg") || !header["alg"].is_string() ||
      header["alg"].get<std::string>() != AlgName(claims.alg)) {
    Fail("accepted header alg differs from the reported alg", header_json);
  }
  if (claims.has_kid != header.contains("kid")) Fail("kid presence differs", header_json);
  if (claims.has_kid && (!header["kid"].is_string() ||
                         header["kid"].get<std::string>() != claims.kid)) {
    Fail("kid differs", header_json);
  }

  const nlohmann::json payload = nlohmann::json::parse(claims.payload_json, nullptr, false);
  if (!payload.is_object()) Fail("accepted a payload that is not a JSON object",
                                 claims.payload_json);
  const double leeway = static_cast<double>(policy.leeway_s);
  const double t = static_cast<double>(now);
  double exp = 0, nbf = 0, iat = 0;
  const bool has_exp = payload.contains("exp");
  if (has_exp && !NumericDate(payload["exp"], &exp)) Fail("accepted a bad exp");
  if (policy.require_exp && !has_exp) Fail("accepted a token without exp");
  // Expired when now - leeway >= trunc(exp): accepted means exp > now - leeway.
  if (has_exp && !(exp > t - leeway)) Fail("accepted an expired token", claims.payload_json);
  if (payload.contains("nbf")) {
    if (!NumericDate(payload["nbf"], &nbf)) Fail("accepted a bad nbf");
    if (!(std::trunc(nbf) <= t + leeway)) Fail("accepted a token before its nbf");
  }
  const bool has_iat = payload.contains("iat");
  if (has_iat) {
    if (!NumericDate(payload["iat"], &iat)) Fail("accepted a bad iat");
    if (!(std::trunc(iat) <= t + leeway)) Fail("accepted a token issued in the future");
  }
  if (policy.max_lifetime_s > 0) {
    if (!has_exp) Fail("accepted a token without exp under a lifetime limit");
    const double start = has_iat ? std::trunc(iat) : t;
    if (std::trunc(exp) - start > static_cast<double>(policy.max_lifetime_s)) {
      Fail("accepted a token that lives too long", claims.payload_json);
    }
  }
  if (claims.has_exp != has_exp) Fail("has_exp differs");
  if (has_exp && static_cast<double>(claims.exp) != std::trunc(exp)) Fail("exp value differs");

  for (const char* name : {"iss", "sub", "jti"}) {
    if (payload.contains(name) && !payload[name].is_string()) {
      Fail("accepted a non-string claim", name);
    }
  }
  if (!policy.issuers.empty()) {
    if (!payload.contains("iss") || !Contains(policy.issuers, payload["iss"].get<std::string>())) {
      Fail("accepted an issuer outside the policy", claims.payload_json);
    }
  }
  if (payload.contains("iss") && payload["iss"].get<std::string>() != claims.iss) {
    Fail("iss differs");
  }
  if (!policy.audiences.empty()) {
    if (!payload.contains("aud")) Fail("accepted a token without aud");
    const nlohmann::json& aud = payload["aud"];
    bool match = false;
    if (aud.is_string()) {
      match = Contains(policy.audiences, aud.get<std::string>());
    } else if (aud.is_array() && !aud.empty()) {
      for (const nlohmann::json& a : aud) {
        if (!a.is_string()) Fail("accepted an aud array with a non-string");
        match = match || Contains(policy.audiences, a.get<std::string>());
      }
    } else {
      Fail("accepted an aud that is neither a string nor a non-empty array");
    }
    if (!match) Fail("accepted an audience outside the policy", claims.payload_json);
  }
  for (const std::string& name : policy.required_claims) {
    if (!payload.contains(name)) Fail("accepted a token without a required claim", name);
  }
}

}  // namespace jwtgate::fuzz
