// Wycheproof primitive vectors (C2SP/wycheproof testvectors_v1 at dac1dd47, copied under
// tests/vectors/wycheproof) through jwtgate's own key importers and Key::VerifySignature:
// ECDSA P-256/384/521 in P1363 form, Ed25519 and Ed448, RSA PKCS#1 v1.5, RSA-PSS and HMAC.
//
// Each group's key goes through the importer the way a configured key would: the group's
// public JWK (crypto::ImportJwk), cross-checked against its PEM (crypto::ImportPem), or an `oct`
// JWK built from the raw HMAC key. The file's curve and hash name the JWS algorithm (ES256/384/
// 512, EdDSA, RS*, PS* with salt length = digest length, HS*), and the importer must bind the
// key to exactly that algorithm. Before the check the verifier's JWS rules apply: the signature
// must have exactly Key::signature_size() bytes (raw r||s, the modulus length, 64 bytes for
// Ed25519, the full HMAC tag); a signature of any other length is refused as
// signature_bad_length without reaching the crypto.
//
// Outcomes are named with jwtgate's status vocabulary: the import status for a key the importer
// refuses, signature_bad_length, signature_invalid, or ok. Cases outside JWS policy are counted
// by rule, not one by one: a group's rule is computed from its parameters (HMAC key shorter than
// the hash, truncated HMAC tag, PSS parameters other than JWS's, Ed448) and listed with its
// exact count in tests/vectors/expectations.json. Any other deviation from a label fails, and
// so does a listed deviation that no longer occurs.
//
// Also here: the SHA-256 of every copied vector file against tests/vectors/MANIFEST.sha256.
#include <openssl/sha.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include "base/hex.h"
#include "crypto/jwk_import.h"
#include "crypto/key.h"
#include "jose/base64url.h"
#include "jwtgate/alg.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"
#include "vector_support.h"

namespace jwtgate {
namespace {

using vectors::HexDecode;
using vectors::IntField;
using vectors::Ledger;
using vectors::ParseOrFail;
using vectors::ReadVectorFile;
using vectors::StringField;
using vectors::VectorPath;

using base::HexEncode;

// ---------------------------------------------------------------------------------------------
// Keys through the importers.

enum class Family { kEcdsa, kEddsa, kRsaPkcs1, kRsaPss, kHmac };

struct GroupKey {
  Status status = Status::kOk;  // import status
  std::unique_ptr<Key> key;     // set when status is kOk
  std::string rule;             // the JWS policy rule the group falls under, "" for none
};

Status ImportJwkObject(simdjson::dom::object jwk, std::unique_ptr<Key>* out) {
  return crypto::ImportJwk(jwk, JwksOptions{}, out);
}

Status ImportJwkText(const std::string& text, std::unique_ptr<Key>* out) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE(parser.parse(text).get(root) == simdjson::SUCCESS);
  simdjson::dom::object o;
  REQUIRE(root.get_object().get(o) == simdjson::SUCCESS);
  return crypto::ImportJwk(o, JwksOptions{}, out);
}

// Imports the group's public JWK (member `jwk_member`) when it has one, else its PEM, for `alg`.
// With both present, the two importers must agree. The imported key must be bound to `alg`.
void ImportPublicKey(simdjson::dom::element group, std::string_view jwk_member, Alg alg,
                     GroupKey* out) {
  simdjson::dom::object jwk;
  const bool has_jwk = group[jwk_member].get_object().get(jwk) == simdjson::SUCCESS;
  std::string_view pem;
  const bool has_pem = group["publicKeyPem"].get_string().get(pem) == simdjson::SUCCESS;
  REQUIRE((has_jwk || has_pem));
  std::unique_ptr<Key> from_pem;
  Status pem_status = Status::kOk;
  if (has_pem) pem_status = crypto::ImportPem(pem, alg, std::nullopt, &from_pem);
  if (has_jwk) {
    out->status = ImportJwkObject(jwk, &out->key);
    if (has_pem) {
      INFO("JWK and PEM imports of the same key");
      CHECK(ToString(pem_status) == ToString(out->status));
    }
  } else {
    out->status = pem_status;
    out->key = std::move(from_pem);
  }
  if (out->status == Status::kOk) {
    REQUIRE(out->key != nullptr);
    CHECK(AlgName(out->key->alg()) == AlgName(alg));
  }
}

// The digest length in bytes for a Wycheproof hash name (only the SHA-2 hashes JWS uses).
size_t DigestBytes(std::string_view sha) {
  if (sha == "SHA-256") return 32;
  if (sha == "SHA-384") return 48;
  if (sha == "SHA-512") return 64;
  FAIL("hash outside JWS: " << sha);
  return 0;
}

Alg AlgFor(AlgFamily family, size_t digest_bytes) {
  const size_t i = digest_bytes == 32 ? 0 : digest_bytes == 48 ? 1 : 2;
  switch (family) {
    case AlgFamily::kHmac: return std::array{Alg::kHS256, Alg::kHS384, Alg::kHS512}[i];
    case AlgFamily::kRsaPkcs1: return std::array{Alg::kRS256, Alg::kRS384, Alg::kRS512}[i];
    case AlgFamily::kRsaPss: return std::array{Alg::kPS256, Alg::kPS384, Alg::kPS512}[i];
    case AlgFamily::kEcdsa: return std::array{Alg::kES256, Alg::kES384, Alg::kES512}[i];
    case AlgFamily::kEdDsa: return Alg::kEdDSA;
  }
  return Alg::kEdDSA;
}

GroupKey ImportGroupKey(Family family, simdjson::dom::element group) {
  GroupKey g;
  switch (family) {
    case Family::kEcdsa: {
      // JWS binds each curve to one hash (RFC 7518 §3.4): P-256/SHA-256, P-384/SHA-384,
      // P-521/SHA-512, which is what these files pair.
      simdjson::dom::element pk;
      REQUIRE(group["publicKey"].get(pk) == simdjson::SUCCESS);
      const std::string_view curve = StringField(pk, "curve");
      const size_t digest = DigestBytes(StringField(group, "sha"));
      const bool jws_pair = (curve == "secp256r1" && digest == 32) ||
                            (curve == "secp384r1" && digest == 48) ||
                            (curve == "secp521r1" && digest == 64);
      REQUIRE(jws_pair);
      ImportPublicKey(group, "publicKeyJwk", AlgFor(AlgFamily::kEcdsa, digest), &g);
      return g;
    }
    case Family::kEddsa: {
      simdjson::dom::element pk;
      REQUIRE(group["publicKey"].get(pk) == simdjson::SUCCESS);
      const std::string_view curve = StringField(pk, "curve");
      if (curve == "edwards448") g.rule = "ed448_not_implemented";
      else REQUIRE(curve == "edwards25519");
      ImportPublicKey(group, "publicKeyJwk", Alg::kEdDSA, &g);
      return g;
    }
    case Family::kRsaPkcs1: {
      const size_t digest = DigestBytes(StringField(group, "sha"));
      ImportPublicKey(group, "keyJwk", AlgFor(AlgFamily::kRsaPkcs1, digest), &g);
      return g;
    }
    case Family::kRsaPss: {
      // PS256/384/512 (RFC 7518 §3.5): MGF1 with the message hash, salt length = digest length.
      const std::string_view sha = StringField(group, "sha");
      const size_t digest = DigestBytes(sha);
      const bool jws_params = StringField(group, "mgf") == "MGF1" &&
                              StringField(group, "mgfSha") == sha &&
                              IntField(group, "sLen") == static_cast<int64_t>(digest);
      if (!jws_params) g.rule = "pss_parameters_not_jws";
      ImportPublicKey(group, "publicKeyJwk", AlgFor(AlgFamily::kRsaPss, digest), &g);
      return g;
    }
    case Family::kHmac:
      break;  // keyed per case, see ImportHmacKey
  }
  return g;
}

// HMAC keys come per case: an `oct` JWK with the case's key, through the JWK importer.
GroupKey ImportHmacKey(Alg alg, int64_t key_bits, int64_t tag_bits, std::string_view key_hex) {
  GroupKey g;
  const auto hash_bits = static_cast<int64_t>(DigestSize(alg) * 8);
  // RFC 7518 §3.2: a key at least as long as the hash output; JWS carries the full tag.
  if (key_bits < hash_bits) g.rule = "hmac_key_shorter_than_hash";
  else if (tag_bits < hash_bits) g.rule = "hmac_truncated_tag";
  const std::string jwk = std::string(R"({"kty":"oct","alg":")") + std::string(AlgName(alg)) +
                          R"(","k":")" + jose::Base64UrlEncode(HexDecode(key_hex)) + R"("})";
  g.status = ImportJwkText(jwk, &g.key);
  return g;
}

// The verifier's steps for a signature of `sig` over `msg` with an imported key.
Status Check(const Key& key, const std::string& msg, const std::string& sig) {
  if (sig.size() != key.signature_size()) return Status::kSignatureBadLength;
  return key.VerifySignature(msg, reinterpret_cast<const uint8_t*>(sig.data()), sig.size())
             ? Status::kOk
             : Status::kSignatureInvalid;
}

// Runs every case of one file into `ledger`; returns the number of cases that the file
// declares (numberOfTests), which the caller compares with the cases recorded.
int64_t RunPrimitiveFile(Family family, std::string_view name, Ledger& ledger) {
  const std::string text = ReadVectorFile("wycheproof/testvectors_v1/" + std::string(name));
  simdjson::dom::parser parser;
  const simdjson::dom::element root = ParseOrFail(parser, text, name);
  simdjson::dom::array groups;
  REQUIRE(root["testGroups"].get_array().get(groups) == simdjson::SUCCESS);
  std::optional<Alg> hmac_alg;
  if (family == Family::kHmac) {
    const std::string_view algorithm = StringField(root, "algorithm");
    if (algorithm == "HMACSHA256") hmac_alg = Alg::kHS256;
    else if (algorithm == "HMACSHA384") hmac_alg = Alg::kHS384;
    else if (algorithm == "HMACSHA512") hmac_alg = Alg::kHS512;
    else FAIL("HMAC outside JWS: " << algorithm);
  }
  for (simdjson::dom::element group : groups) {
    GroupKey group_key;
    if (family != Family::kHmac) group_key = ImportGroupKey(family, group);
    simdjson::dom::array tests;
    REQUIRE(group["tests"].get_array().get(tests) == simdjson::SUCCESS);
    for (simdjson::dom::element test : tests) {
      const int64_t tc_id = IntField(test, "tcId");
      INFO(name << " tc " << tc_id);
      const std::string msg = HexDecode(StringField(test, "msg"));
      GroupKey hmac_key;
      const GroupKey* k = &group_key;
      std::string sig;
      if (family == Family::kHmac) {
        hmac_key = ImportHmacKey(*hmac_alg, IntField(group, "keySize"),
                                 IntField(group, "tagSize"), StringField(test, "key"));
        k = &hmac_key;
        sig = HexDecode(StringField(test, "tag"));
      } else {
        sig = HexDecode(StringField(test, "sig"));
      }
      const Status status = k->status != Status::kOk ? k->status : Check(*k->key, msg, sig);
      ledger.Record(name, tc_id, StringField(test, "result"), k->rule, status,
                    status == Status::kOk);
    }
  }
  return IntField(root, "numberOfTests");
}

struct Pinned {
  Family family;
  std::string_view file;
  int cases;
  int valid_accepted;
  int invalid_rejected;
  int acceptable_rejected;
  int deviations;
};

// Runs `files`, reports and checks the pinned counts, then checks for stale expectations.
void RunFamily(std::string_view title, std::initializer_list<Pinned> files) {
  std::vector<std::string> names;
  for (const Pinned& p : files) names.emplace_back(p.file);
  Ledger ledger(names);
  int total = 0;
  int agree = 0;
  int deviations = 0;
  for (const Pinned& p : files) {
    const int64_t declared = RunPrimitiveFile(p.family, p.file, ledger);
    const Ledger::Counts& c = ledger.counts(p.file);
    WARN(ledger.Report(p.file));
    INFO(p.file);
    CHECK(c.cases == declared);
    CHECK(c.cases == p.cases);
    CHECK(c.valid_accepted == p.valid_accepted);
    CHECK(c.invalid_rejected == p.invalid_rejected);
    // "Acceptable" cases (RSA PKCS#1 with the DigestInfo NULL missing) are rejected: OpenSSL
    // re-encodes the DigestInfo with the NULL and compares the whole encoded message.
    CHECK(c.acceptable_accepted == 0);
    CHECK(c.acceptable_rejected == p.acceptable_rejected);
    CHECK(c.deviations == p.deviations);
    CHECK(c.agree() + c.deviations == c.cases);
    total += c.cases;
    agree += c.agree();
    deviations += c.deviations;
  }
  ledger.CheckNoStaleEntries();
  WARN(title << ": " << total << " cases, " << agree << " agree with the label, " << deviations
             << " listed deviations");
}

TEST_CASE("Wycheproof ECDSA P1363 vectors through the EC JWK importer and the JWS length rule",
          "[wycheproof][vectors]") {
  RunFamily("Wycheproof ECDSA P1363",
            {{Family::kEcdsa, "ecdsa_secp256r1_sha256_p1363_test.json", 262, 173, 89, 0, 0},
             {Family::kEcdsa, "ecdsa_secp384r1_sha384_p1363_test.json", 280, 193, 87, 0, 0},
             {Family::kEcdsa, "ecdsa_secp521r1_sha512_p1363_test.json", 318, 231, 87, 0, 0}});
}

TEST_CASE("Wycheproof EdDSA vectors through the OKP JWK importer",
          "[wycheproof][vectors]") {
  RunFamily("Wycheproof EdDSA",
            {{Family::kEddsa, "ed25519_test.json", 151, 88, 63, 0, 0},
             {Family::kEddsa, "ed448_test.json", 87, 0, 70, 0, 17}});
}

TEST_CASE("Wycheproof RSA PKCS#1 v1.5 vectors through the RSA JWK importer",
          "[wycheproof][vectors]") {
  RunFamily("Wycheproof RSA PKCS#1 v1.5",
            {{Family::kRsaPkcs1, "rsa_signature_2048_sha256_test.json", 259, 9, 249, 1, 0},
             {Family::kRsaPkcs1, "rsa_signature_2048_sha384_test.json", 258, 7, 250, 1, 0},
             {Family::kRsaPkcs1, "rsa_signature_2048_sha512_test.json", 259, 8, 250, 1, 0},
             {Family::kRsaPkcs1, "rsa_signature_3072_sha256_test.json", 259, 8, 250, 1, 0},
             {Family::kRsaPkcs1, "rsa_signature_3072_sha384_test.json", 259, 7, 251, 1, 0},
             {Family::kRsaPkcs1, "rsa_signature_3072_sha512_test.json", 260, 8, 251, 1, 0},
             {Family::kRsaPkcs1, "rsa_signature_4096_sha256_test.json", 258, 7, 250, 1, 0},
             {Family::kRsaPkcs1, "rsa_signature_4096_sha384_test.json", 259, 7, 251, 1, 0},
             {Family::kRsaPkcs1, "rsa_signature_4096_sha512_test.json", 259, 7, 251, 1, 0}});
}

TEST_CASE("Wycheproof RSA-PSS vectors through the RSA importers with JWS salt and MGF1",
          "[wycheproof][vectors]") {
  RunFamily("Wycheproof RSA-PSS",
            {{Family::kRsaPss, "rsa_pss_2048_sha256_mgf1_0_test.json", 103, 0, 41, 0, 62},
             {Family::kRsaPss, "rsa_pss_2048_sha256_mgf1_32_test.json", 108, 63, 45, 0, 0},
             {Family::kRsaPss, "rsa_pss_2048_sha384_mgf1_48_test.json", 141, 95, 46, 0, 0},
             {Family::kRsaPss, "rsa_pss_3072_sha256_mgf1_32_test.json", 108, 63, 45, 0, 0},
             {Family::kRsaPss, "rsa_pss_4096_sha256_mgf1_32_test.json", 108, 63, 45, 0, 0},
             {Family::kRsaPss, "rsa_pss_4096_sha384_mgf1_48_test.json", 141, 95, 46, 0, 0},
             {Family::kRsaPss, "rsa_pss_4096_sha512_mgf1_64_test.json", 179, 132, 47, 0, 0}});
}

TEST_CASE("Wycheproof HMAC vectors through the oct JWK importer with full-length tags",
          "[wycheproof][vectors]") {
  RunFamily("Wycheproof HMAC",
            {{Family::kHmac, "hmac_sha256_test.json", 174, 30, 108, 0, 36},
             {Family::kHmac, "hmac_sha384_test.json", 174, 30, 108, 0, 36},
             {Family::kHmac, "hmac_sha512_test.json", 174, 30, 108, 0, 36}});
}

// ---------------------------------------------------------------------------------------------
// The copies against the manifest of the shared vector store.

TEST_CASE("Vector copies match MANIFEST.sha256", "[vectors][wycheproof][cctv]") {
  // Every file the vector tests load; each must be listed in the manifest.
  const std::set<std::string> kUsed = {
      "wycheproof/LICENSE",
      "wycheproof/testvectors_v1/json_web_signature_test.json",
      "wycheproof/testvectors_v1/json_web_key_test.json",
      "wycheproof/testvectors_v1/json_web_crypto_test.json",
      "wycheproof/testvectors_v1/json_web_encryption_test.json",
      "wycheproof/testvectors_v1/ecdsa_secp256r1_sha256_p1363_test.json",
      "wycheproof/testvectors_v1/ecdsa_secp384r1_sha384_p1363_test.json",
      "wycheproof/testvectors_v1/ecdsa_secp521r1_sha512_p1363_test.json",
      "wycheproof/testvectors_v1/ed25519_test.json",
      "wycheproof/testvectors_v1/ed448_test.json",
      "wycheproof/testvectors_v1/rsa_signature_2048_sha256_test.json",
      "wycheproof/testvectors_v1/rsa_signature_2048_sha384_test.json",
      "wycheproof/testvectors_v1/rsa_signature_2048_sha512_test.json",
      "wycheproof/testvectors_v1/rsa_signature_3072_sha256_test.json",
      "wycheproof/testvectors_v1/rsa_signature_3072_sha384_test.json",
      "wycheproof/testvectors_v1/rsa_signature_3072_sha512_test.json",
      "wycheproof/testvectors_v1/rsa_signature_4096_sha256_test.json",
      "wycheproof/testvectors_v1/rsa_signature_4096_sha384_test.json",
      "wycheproof/testvectors_v1/rsa_signature_4096_sha512_test.json",
      "wycheproof/testvectors_v1/rsa_pss_2048_sha256_mgf1_0_test.json",
      "wycheproof/testvectors_v1/rsa_pss_2048_sha256_mgf1_32_test.json",
      "wycheproof/testvectors_v1/rsa_pss_2048_sha384_mgf1_48_test.json",
      "wycheproof/testvectors_v1/rsa_pss_3072_sha256_mgf1_32_test.json",
      "wycheproof/testvectors_v1/rsa_pss_4096_sha256_mgf1_32_test.json",
      "wycheproof/testvectors_v1/rsa_pss_4096_sha384_mgf1_48_test.json",
      "wycheproof/testvectors_v1/rsa_pss_4096_sha512_mgf1_64_test.json",
      "wycheproof/testvectors_v1/hmac_sha256_test.json",
      "wycheproof/testvectors_v1/hmac_sha384_test.json",
      "wycheproof/testvectors_v1/hmac_sha512_test.json",
      "cctv/ed25519/LICENSE",
      "cctv/ed25519/ed25519vectors.json",
  };
  const std::string manifest = ReadVectorFile("MANIFEST.sha256");
  std::istringstream lines(manifest);
  std::string line;
  std::set<std::string> listed;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    // sha256sum format: 64 hex digits, two spaces, the path relative to tests/vectors.
    REQUIRE(line.size() > 66);
    REQUIRE(line.substr(64, 2) == "  ");
    const std::string want = line.substr(0, 64);
    const std::string path = line.substr(66);
    INFO(path);
    CHECK(listed.insert(path).second);
    const std::string data = ReadVectorFile(path);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
    CHECK(HexEncode(digest, sizeof digest) == want);
  }
  for (const std::string& used : kUsed) {
    INFO(used);
    CHECK(listed.count(used) == 1);
  }
  CHECK(listed.size() == kUsed.size());
}

}  // namespace
}  // namespace jwtgate
