// C2SP CCTV Ed25519 edge cases (ed25519vectors.json, copied under tests/vectors/cctv/ed25519):
// 914 signatures built around the edge cases on which Ed25519 verifiers disagree (cofactored
// or cofactorless equation, canonicity of R and A, small-order points, how k is hashed).
// The file carries flags, not verdicts; the verdict here is derived from jwtgate's key and
// signature policy, flag by flag, in kFlagRules below:
//  - import: the public key arrives as an OKP JWK through KeySet::Builder::AddJwks, which
//    refuses a point that is non-canonical, of small order or outside the prime-order subgroup
//    (crypto::Ed25519PublicKeyIsValid, libsodium's crypto_core_ed25519_is_valid_point);
//  - verify: libsodium's crypto_sign_verify_detached (1.0.18), the cofactorless equation
//    R == [s]B - [k]A compared on the canonical encoding of the result, with small-order R and
//    S >= L refused up front.
// A case is expected to fail at import when one of its flags is an import flag, else to fail
// verification when it has any flag, else to verify. No CCTV case has S >= L (every S here is
// canonical), so the S >= L rule, which libsodium enforces, is covered by Wycheproof's
// ed25519_test.json instead.
//
// The same cases through OpenSSL's Ed25519 (EVP_DigestVerify with a raw public key) show why
// the import rule exists: OpenSSL accepts 208 of them, among them small-order and
// non-canonical public keys (security catalogue §2.2).
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include "crypto/key.h"
#include "crypto/key_set_access.h"
#include "crypto/signature.h"
#include "jose/base64url.h"
#include "jwtgate/alg.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"
#include "vector_support.h"

namespace jwtgate {
namespace {

using vectors::HexDecode;
using vectors::ReadVectorFile;

enum class Stage { kImport, kVerify };

struct FlagRule {
  std::string_view flag;
  Stage stage;
};

// What each CCTV flag means and which step of jwtgate refuses a case that carries it.
constexpr FlagRule kFlagRules[] = {
    // A is one of the eight points of small order (the identity included). Such a key makes
    // signatures that verify for many messages; RFC 8032 does not forbid it, jwtgate refuses
    // the key (security catalogue rule 6; libsodium's small-order blocklist).
    {"low_order_A", Stage::kImport},
    // A is encoded non-canonically (y >= p, or x = 0 with the sign bit set). FIPS 186-5 and
    // RFC 8032 §5.1.3 require rejecting it; OpenSSL does not, the importer does.
    {"non_canonical_A", Stage::kImport},
    // A has a non-zero small-order component, i.e. it lies outside the prime-order subgroup.
    // The importer's subgroup check refuses it, so for every accepted key the cofactored and
    // cofactorless equations agree.
    {"low_order_component_A", Stage::kImport},
    // R is of small order. libsodium refuses a small-order R before evaluating the equation.
    {"low_order_R", Stage::kVerify},
    // R is encoded non-canonically. libsodium compares R's bytes with the canonical encoding
    // of [s]B - [k]A, which a non-canonical R never equals.
    {"non_canonical_R", Stage::kVerify},
    // R has a non-zero small-order component. With A in the prime-order subgroup, [s]B - [k]A
    // is in that subgroup too, so the cofactorless equation cannot hold.
    {"low_order_component_R", Stage::kVerify},
    // [s]B - R - [k]A is a non-zero point of small order: the signature satisfies only the
    // cofactored equation [8][s]B = [8]R + [8][k]A; libsodium checks the cofactorless one.
    {"low_order_residue", Stage::kVerify},
    // k = SHA-512(R || A || M) was computed over re-encoded (canonical) R and A rather than
    // the bytes as sent; RFC 8032 hashes the bytes as sent, so the equation fails.
    {"reencoded_k", Stage::kVerify},
};

// jwtgate's verdict: the OKP JWK through the importer, then the signature through the key.
Status JwtgateVerdict(const std::string& pk, const std::string& msg, const std::string& sig) {
  const std::string jwk =
      R"({"kty":"OKP","crv":"Ed25519","use":"sig","x":")" + jose::Base64UrlEncode(pk) + R"("})";
  KeySet::Builder builder;
  const Status import = builder.AddJwks(jwk);
  // The JWK importer and the point check it relies on must agree.
  CHECK((import == Status::kOk) ==
        crypto::Ed25519PublicKeyIsValid(reinterpret_cast<const uint8_t*>(pk.data())));
  if (import != Status::kOk) return import;
  const std::shared_ptr<const KeySet> keys = builder.Build();
  const Key* key = nullptr;
  REQUIRE(crypto::KeySetAccess::Find(*keys, false, "", Alg::kEdDSA, &key) == Status::kOk);
  REQUIRE(key->signature_size() == sig.size());
  return key->VerifySignature(msg, reinterpret_cast<const uint8_t*>(sig.data()), sig.size())
             ? Status::kOk
             : Status::kSignatureInvalid;
}

// True when the signature's S (its second half, little-endian) is below the group order L.
bool SIsCanonical(const std::string& sig) {
  static constexpr uint8_t kL[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                     0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
  for (size_t i = 32; i-- > 0;) {
    const auto b = static_cast<uint8_t>(sig[32 + i]);
    if (b != kL[i]) return b < kL[i];
  }
  return false;  // S == L
}

// OpenSSL 3's Ed25519 with the raw public key and no checks of its own: the reference point
// that shows what the import rule adds.
bool OpenSslVerifies(const std::string& pk, const std::string& msg, const std::string& sig) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                  reinterpret_cast<const unsigned char*>(pk.data()), pk.size()),
      EVP_PKEY_free);
  if (!pkey) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                          sig.size(), reinterpret_cast<const unsigned char*>(msg.data()),
                          msg.size()) == 1;
}

TEST_CASE("CCTV Ed25519 edge cases are judged by the key and signature policy",
          "[cctv][vectors]") {
  const std::string text = ReadVectorFile("cctv/ed25519/ed25519vectors.json");
  simdjson::dom::parser parser;
  simdjson::dom::array cases;
  REQUIRE(parser.parse(text).get_array().get(cases) == simdjson::SUCCESS);

  int total = 0;
  int rejected_at_import = 0;
  int rejected_at_verify = 0;
  int accepted = 0;
  int openssl_accepted = 0;
  int openssl_accepted_rejected_at_import = 0;
  int s_not_canonical = 0;
  std::map<std::string, int> flag_cases;
  for (simdjson::dom::element c : cases) {
    int64_t number = 0;
    std::string_view key_hex, sig_hex, msg;
    REQUIRE(c["number"].get_int64().get(number) == simdjson::SUCCESS);
    REQUIRE(c["key"].get_string().get(key_hex) == simdjson::SUCCESS);
    REQUIRE(c["sig"].get_string().get(sig_hex) == simdjson::SUCCESS);
    REQUIRE(c["msg"].get_string().get(msg) == simdjson::SUCCESS);
    INFO("case " << number);

    // The expected verdict, from the flags (`flags` is null for the one plain case).
    std::optional<Stage> expected_stage;
    simdjson::dom::array flags;
    if (c["flags"].get_array().get(flags) == simdjson::SUCCESS) {
      for (simdjson::dom::element f : flags) {
        std::string_view flag;
        REQUIRE(f.get_string().get(flag) == simdjson::SUCCESS);
        ++flag_cases[std::string(flag)];
        const FlagRule* rule = nullptr;
        for (const FlagRule& r : kFlagRules) {
          if (r.flag == flag) rule = &r;
        }
        if (rule == nullptr) FAIL("flag without a rule: " << flag);
        if (!expected_stage || rule->stage == Stage::kImport) expected_stage = rule->stage;
      }
    }
    const Status expected = !expected_stage                     ? Status::kOk
                            : *expected_stage == Stage::kImport ? Status::kKeyInvalid
                                                                : Status::kSignatureInvalid;

    const std::string pk = HexDecode(key_hex);
    const std::string sig = HexDecode(sig_hex);
    REQUIRE(pk.size() == 32);
    REQUIRE(sig.size() == 64);
    if (!SIsCanonical(sig)) ++s_not_canonical;
    const Status actual = JwtgateVerdict(pk, std::string(msg), sig);
    CHECK(ToString(actual) == ToString(expected));

    ++total;
    if (actual == Status::kOk) ++accepted;
    else if (actual == Status::kSignatureInvalid) ++rejected_at_verify;
    else ++rejected_at_import;
    if (OpenSslVerifies(pk, std::string(msg), sig)) {
      ++openssl_accepted;
      if (actual != Status::kOk && actual != Status::kSignatureInvalid) {
        ++openssl_accepted_rejected_at_import;
      }
    }
  }

  std::ostringstream flag_report;
  for (const auto& [flag, n] : flag_cases) flag_report << " " << flag << "=" << n;
  WARN("CCTV Ed25519: " << total << " cases; jwtgate accepts " << accepted << ", rejects "
                        << rejected_at_import << " at key import (key_invalid) and "
                        << rejected_at_verify << " at verification (signature_invalid); OpenSSL "
                        << "alone accepts " << openssl_accepted << ", of which "
                        << openssl_accepted_rejected_at_import
                        << " are refused by jwtgate's import rule\n  flags:"
                        << flag_report.str());
  CHECK(total == 914);
  CHECK(s_not_canonical == 0);  // see the header comment: S >= L is Wycheproof's to cover
  CHECK(rejected_at_import == 886);
  CHECK(rejected_at_verify == 27);
  CHECK(accepted == 1);  // case 305, the only one without flags
  CHECK(openssl_accepted == 208);
  // Of OpenSSL's 208: case 305 (accepted by both), one small-order R that libsodium refuses,
  // and 206 signatures under small-order, non-canonical or mixed-order public keys.
  CHECK(openssl_accepted_rejected_at_import == 206);
  CHECK(flag_cases["low_order_A"] == 526);
  CHECK(flag_cases["non_canonical_A"] == 226);
  CHECK(flag_cases["low_order_component_A"] == 774);
  CHECK(flag_cases["low_order_R"] == 586);
  CHECK(flag_cases["non_canonical_R"] == 316);
  CHECK(flag_cases["low_order_component_R"] == 665);
  CHECK(flag_cases["low_order_residue"] == 583);
  CHECK(flag_cases["reencoded_k"] == 146);
}

}  // namespace
}  // namespace jwtgate
