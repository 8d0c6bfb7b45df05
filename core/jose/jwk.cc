#include "jose/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <cstring>
#include <string>
#include <vector>

#include "crypto/signature.h"
#include "jose/base64url.h"

namespace jwtgate::jose {
namespace {

constexpr size_t kMaxKidBytes = 256;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;

struct BnDeleter { void operator()(BIGNUM* b) const { BN_free(b); } };
struct PkeyDeleter { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct PkeyCtxDeleter { void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); } };
struct BldDeleter { void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); } };
struct ParamDeleter { void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); } };
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

const char* CurveForAlg(Alg a) {
  switch (a) {
    case Alg::kES256: return "P-256";
    case Alg::kES384: return "P-384";
    case Alg::kES512: return "P-521";
    default: return nullptr;
  }
}

const char* OpenSslGroupForCurve(std::string_view crv, size_t* coord_len) {
  if (crv == "P-256") { *coord_len = 32; return "prime256v1"; }
  if (crv == "P-384") { *coord_len = 48; return "secp384r1"; }
  if (crv == "P-521") { *coord_len = 66; return "secp521r1"; }
  return nullptr;
}

// Reads an optional string member. Returns false when present but not a string.
bool OptString(simdjson::dom::object o, std::string_view name, std::optional<std::string_view>* out) {
  simdjson::dom::element e;
  if (o[name].get(e) != simdjson::SUCCESS) {
    out->reset();
    return true;
  }
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return false;
  *out = s;
  return true;
}

// Decodes a required base64url member. Returns kJwkInvalid when absent, not a string or not
// canonical base64url.
Status RequiredBytes(simdjson::dom::object o, std::string_view name, std::string* out) {
  std::optional<std::string_view> s;
  if (!OptString(o, name, &s) || !s) return Status::kJwkInvalid;
  if (!Base64UrlDecode(*s, out)) return Status::kJwkInvalid;
  return Status::kOk;
}

Status CheckUsage(simdjson::dom::object o) {
  std::optional<std::string_view> use;
  if (!OptString(o, "use", &use)) return Status::kJwkInvalid;
  if (use && *use != "sig") return Status::kKeyUsageMismatch;
  simdjson::dom::element ops;
  if (o["key_ops"].get(ops) == simdjson::SUCCESS) {
    simdjson::dom::array arr;
    if (ops.get_array().get(arr) != simdjson::SUCCESS) return Status::kJwkInvalid;
    bool verify = false;
    for (auto v : arr) {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) return Status::kJwkInvalid;
      if (s == "verify") verify = true;
    }
    if (!verify) return Status::kKeyUsageMismatch;
  }
  return Status::kOk;
}

bool HasPrivateMembers(simdjson::dom::object o) {
  for (const char* m : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
    simdjson::dom::element e;
    if (o[m].get(e) == simdjson::SUCCESS) return true;
  }
  return false;
}

Status CheckRsa(EVP_PKEY* pkey) {
  const int bits = EVP_PKEY_get_bits(pkey);
  if (bits < kMinRsaBits) return Status::kKeyTooSmall;
  if (bits > kMaxRsaBits) return Status::kKeyTooLarge;
  BIGNUM* e_raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e_raw) != 1) return Status::kKeyInvalid;
  BnPtr e(e_raw);
  // e odd, 3 <= e <= 2^32 (security catalogue rule 6; large e make verification slow).
  if (!BN_is_odd(e.get()) || BN_num_bits(e.get()) > 33 || BN_cmp(e.get(), BN_value_one()) <= 0) {
    return Status::kKeyBadExponent;
  }
  if (BN_num_bits(e.get()) == 33) {
    // Only 2^32 itself has 33 bits and is <= 2^32, and it is even: already rejected.
    return Status::kKeyBadExponent;
  }
  return Status::kOk;
}

Status CheckEc(EVP_PKEY* pkey, Alg alg) {
  char group[64];
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                     &len) != 1) {
    return Status::kKeyInvalid;
  }
  size_t coord = 0;
  const char* want = OpenSslGroupForCurve(CurveForAlg(alg), &coord);
  std::string_view g(group, len);
  if (g != want) {
    // Known curve bound to another ES alg, or a curve we do not support at all.
    size_t unused = 0;
    const bool supported = g == "prime256v1" || g == "secp384r1" || g == "secp521r1" ||
                           OpenSslGroupForCurve(g, &unused) != nullptr;
    return supported ? Status::kKeyAlgMismatch : Status::kKeyUnsupportedCurve;
  }
  return Status::kOk;
}

Status PublicCheck(EVP_PKEY* pkey) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx) return Status::kInternalError;
  return EVP_PKEY_public_check(ctx.get()) == 1 ? Status::kOk : Status::kKeyInvalid;
}

Status BuildEvp(const char* type, OSSL_PARAM_BLD* bld, PkeyPtr* out) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return Status::kInternalError;
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return Status::kInternalError;
  EVP_PKEY* pkey = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Status::kKeyInvalid;
  }
  out->reset(pkey);
  return Status::kOk;
}

Status ImportRsaJwk(simdjson::dom::object o, Alg alg, std::optional<std::string> kid,
                    std::unique_ptr<Key>* out) {
  std::string n, e;
  if (Status s = RequiredBytes(o, "n", &n); s != Status::kOk) return s;
  if (Status s = RequiredBytes(o, "e", &e); s != Status::kOk) return s;
  // RFC 7518 §6.3.1: n and e are unsigned big-endian integers in their minimal encoding.
  if (n[0] == 0 || e[0] == 0) return Status::kJwkInvalid;
  if (e.size() > 5) return Status::kKeyBadExponent;
  if (n.size() * 8 > static_cast<size_t>(kMaxRsaBits)) return Status::kKeyTooLarge;
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return Status::kInternalError;
  }
  PkeyPtr pkey;
  if (Status s = BuildEvp("RSA", bld.get(), &pkey); s != Status::kOk) return s;
  if (Status s = ValidatePublicKey(pkey.get(), alg); s != Status::kOk) return s;
  *out = Key::MakeEvp(pkey.release(), alg, std::move(kid));
  return Status::kOk;
}

Status ImportEcJwk(simdjson::dom::object o, std::string_view crv, Alg alg,
                   std::optional<std::string> kid, std::unique_ptr<Key>* out) {
  size_t coord = 0;
  const char* group = OpenSslGroupForCurve(crv, &coord);
  if (group == nullptr) return Status::kKeyUnsupportedCurve;
  std::string x, y;
  if (Status s = RequiredBytes(o, "x", &x); s != Status::kOk) return s;
  if (Status s = RequiredBytes(o, "y", &y); s != Status::kOk) return s;
  // RFC 7518 §6.2.1.2/3: full coordinate length, leading zeros kept.
  if (x.size() != coord || y.size() != coord) return Status::kKeyInvalid;
  std::string point;
  point.reserve(1 + 2 * coord);
  point.push_back('\x04');
  point += x;
  point += y;
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return Status::kInternalError;
  }
  PkeyPtr pkey;
  if (Status s = BuildEvp("EC", bld.get(), &pkey); s != Status::kOk) return s;
  if (Status s = ValidatePublicKey(pkey.get(), alg); s != Status::kOk) return s;
  *out = Key::MakeEvp(pkey.release(), alg, std::move(kid));
  return Status::kOk;
}

bool AlgMatchesKty(Alg alg, std::string_view kty) {
  switch (FamilyOf(alg)) {
    case AlgFamily::kHmac: return kty == "oct";
    case AlgFamily::kRsaPkcs1:
    case AlgFamily::kRsaPss: return kty == "RSA";
    case AlgFamily::kEcdsa: return kty == "EC";
    case AlgFamily::kEdDsa: return kty == "OKP";
  }
  return false;
}

}  // namespace

Status ValidatePublicKey(EVP_PKEY* pkey, Alg alg) {
  switch (FamilyOf(alg)) {
    case AlgFamily::kRsaPkcs1:
    case AlgFamily::kRsaPss: {
      if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) return Status::kKeyAlgMismatch;
      if (Status s = CheckRsa(pkey); s != Status::kOk) return s;
      return PublicCheck(pkey);
    }
    case AlgFamily::kEcdsa: {
      if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) return Status::kKeyAlgMismatch;
      if (Status s = CheckEc(pkey, alg); s != Status::kOk) return s;
      return PublicCheck(pkey);
    }
    case AlgFamily::kEdDsa: {
      if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
        return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED448 ? Status::kKeyUnsupportedCurve
                                                            : Status::kKeyAlgMismatch;
      }
      uint8_t pk[32];
      size_t len = sizeof pk;
      if (EVP_PKEY_get_raw_public_key(pkey, pk, &len) != 1 || len != 32) return Status::kKeyInvalid;
      return crypto::Ed25519PublicKeyIsValid(pk) ? Status::kOk : Status::kKeyInvalid;
    }
    case AlgFamily::kHmac:
      return Status::kKeyAlgMismatch;
  }
  return Status::kKeyInvalid;
}

Status ImportJwk(simdjson::dom::object o, const JwksOptions& options, std::unique_ptr<Key>* out) {
  out->reset();
  std::optional<std::string_view> kty, alg_name, kid_view, crv;
  if (!OptString(o, "kty", &kty) || !kty) return Status::kJwkInvalid;
  if (!OptString(o, "alg", &alg_name) || !OptString(o, "kid", &kid_view) ||
      !OptString(o, "crv", &crv)) {
    return Status::kJwkInvalid;
  }
  const bool known_kty = *kty == "RSA" || *kty == "EC" || *kty == "OKP" || *kty == "oct";
  if (!known_kty) return options.skip_unsupported ? Status::kOk : Status::kJwkUnsupportedKty;
  if (Status s = CheckUsage(o); s != Status::kOk) {
    return (options.skip_unsupported && s == Status::kKeyUsageMismatch) ? Status::kOk : s;
  }
  if (*kty != "oct" && HasPrivateMembers(o)) return Status::kJwkPrivateMaterial;
  std::optional<std::string> kid;
  if (kid_view) {
    if (kid_view->size() > kMaxKidBytes) return Status::kJwkInvalid;
    kid = std::string(*kid_view);
  }

  Alg alg;
  if (alg_name) {
    if (!AlgFromName(*alg_name, &alg)) {
      // An algorithm this verifier does not implement (RSA-OAEP, Ed448, none, ...).
      return options.skip_unsupported ? Status::kOk : Status::kKeyAlgMismatch;
    }
    if (!AlgMatchesKty(alg, *kty)) return Status::kKeyAlgMismatch;
  } else if (*kty == "EC") {
    if (!crv) return Status::kJwkInvalid;
    if (*crv == "P-256") alg = Alg::kES256;
    else if (*crv == "P-384") alg = Alg::kES384;
    else if (*crv == "P-521") alg = Alg::kES512;
    else return options.skip_unsupported ? Status::kOk : Status::kKeyUnsupportedCurve;
  } else if (*kty == "OKP") {
    alg = Alg::kEdDSA;
  } else if (options.default_alg && AlgMatchesKty(*options.default_alg, *kty)) {
    alg = *options.default_alg;
  } else {
    return Status::kKeyAlgMissing;
  }

  if (*kty == "RSA") return ImportRsaJwk(o, alg, std::move(kid), out);
  if (*kty == "EC") {
    if (!crv) return Status::kJwkInvalid;
    size_t coord = 0;
    if (OpenSslGroupForCurve(*crv, &coord) == nullptr) {
      return options.skip_unsupported ? Status::kOk : Status::kKeyUnsupportedCurve;
    }
    if (*crv != CurveForAlg(alg)) return Status::kKeyAlgMismatch;
    return ImportEcJwk(o, *crv, alg, std::move(kid), out);
  }
  if (*kty == "OKP") {
    if (!crv) return Status::kJwkInvalid;
    if (*crv != "Ed25519") return options.skip_unsupported ? Status::kOk : Status::kKeyUnsupportedCurve;
    std::string x;
    if (Status s = RequiredBytes(o, "x", &x); s != Status::kOk) return s;
    if (x.size() != 32) return Status::kKeyInvalid;
    const auto* pk = reinterpret_cast<const uint8_t*>(x.data());
    if (!crypto::Ed25519PublicKeyIsValid(pk)) return Status::kKeyInvalid;
    *out = Key::MakeEd25519(pk, std::move(kid));
    return Status::kOk;
  }
  // oct
  std::string k;
  if (Status s = RequiredBytes(o, "k", &k); s != Status::kOk) {
    // An empty "k" decodes to nothing: report it as the too-short secret it is.
    std::optional<std::string_view> raw;
    if (OptString(o, "k", &raw) && raw && raw->empty()) return Status::kKeyTooSmall;
    return s;
  }
  // RFC 7518 §3.2: a key of the same size as the hash output or larger.
  if (k.size() < DigestSize(alg)) {
    OPENSSL_cleanse(k.data(), k.size());
    return Status::kKeyTooSmall;
  }
  *out = Key::MakeHmac(alg, std::span(reinterpret_cast<const uint8_t*>(k.data()), k.size()),
                       std::move(kid));
  OPENSSL_cleanse(k.data(), k.size());
  return Status::kOk;
}

Status ImportPem(std::string_view pem, Alg alg, std::optional<std::string> kid,
                 std::unique_ptr<Key>* out) {
  if (FamilyOf(alg) == AlgFamily::kHmac) return Status::kKeyAlgMismatch;
  // Public keys only: a verifier never holds private material.
  const bool spki = pem.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos;
  const bool pkcs1 = pem.find("-----BEGIN RSA PUBLIC KEY-----") != std::string_view::npos;
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) return Status::kJwkPrivateMaterial;
  if (!spki && !pkcs1) return Status::kPemInvalid;
  EVP_PKEY* raw = nullptr;
  OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(
      &raw, "PEM", pkcs1 ? "type-specific" : "SubjectPublicKeyInfo", pkcs1 ? "RSA" : nullptr,
      EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
  if (dctx == nullptr) return Status::kInternalError;
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t data_len = pem.size();
  const int decoded = OSSL_DECODER_from_data(dctx, &data, &data_len);
  OSSL_DECODER_CTX_free(dctx);
  if (decoded != 1) {
    EVP_PKEY_free(raw);
    raw = nullptr;
  }
  if (raw == nullptr) return Status::kPemInvalid;
  PkeyPtr pkey(raw);
  if (Status s = ValidatePublicKey(pkey.get(), alg); s != Status::kOk) return s;
  if (FamilyOf(alg) == AlgFamily::kEdDsa) {
    uint8_t pk[32];
    size_t len = sizeof pk;
    if (EVP_PKEY_get_raw_public_key(pkey.get(), pk, &len) != 1) return Status::kKeyInvalid;
    *out = Key::MakeEd25519(pk, std::move(kid));
    return Status::kOk;
  }
  *out = Key::MakeEvp(pkey.release(), alg, std::move(kid));
  return Status::kOk;
}

}  // namespace jwtgate::jose
