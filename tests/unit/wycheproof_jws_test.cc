// Wycheproof JOSE vectors (C2SP/wycheproof testvectors_v1 at dac1dd47, copied under
// tests/vectors/wycheproof) driven through the real key importer (KeySet::Builder::AddJwks)
// and the real verifier (Verifier::Verify):
//  - json_web_signature_test.json and json_web_key_test.json, case by case;
//  - json_web_crypto_test.json: its JWS groups the same way, its JWE groups as below;
//  - json_web_encryption_test.json and the JWE groups: a JWS-only verifier must reject every
//    one of them, whatever its label (the rule "jwe_not_supported").
//
// Outcome mapping. Wycheproof labels a JWS "valid" when its signature verifies; jwtgate verifies
// JWTs, so a valid JWS whose payload is not a JWT claims set ("foo", "123400", the prose of
// RFC 7520) is rejected after its signature has been accepted. The statuses that can only be
// produced after the signature step and the payload's base64url decoding (payload_bad_json,
// payload_not_object, payload_duplicate_member and the claims-policy statuses) therefore count
// as "signature accepted"; every status produced before (token syntax, header, key selection,
// signature length, encoding and value, payload base64url) counts as "rejected". The claims
// policy requires no `exp` and `now` is fixed, so time claims play no part.
//
// Every case agrees with its label or is listed in tests/vectors/expectations.json with the
// status jwtgate returns and the reason. A deviation that is not listed fails, and so does a
// listed one that no longer deviates (a stale expectation).
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"
#include "vector_support.h"

namespace jwtgate {
namespace {

using vectors::IntField;
using vectors::Ledger;
using vectors::ParseOrFail;
using vectors::ReadVectorFile;
using vectors::StringField;

constexpr int64_t kNow = 1'700'000'000;  // any fixed instant: no vector carries time claims

// True for the statuses that the verifier can only return once the signature has verified and
// the payload has been base64url-decoded (see the mapping above).
bool SignatureAccepted(Status s) {
  switch (s) {
    case Status::kOk:
    case Status::kPayloadBadJson:
    case Status::kPayloadNotObject:
    case Status::kPayloadDuplicateMember:
      return true;
    default:
      return s >= Status::kExpInvalid && s <= Status::kRevoked;
  }
}

// ---------------------------------------------------------------------------------------------
// Running a JOSE file.

struct CaseResult {
  int64_t tc_id;
  std::string label;
  std::string rule;
  Status status;
};

struct FileRun {
  int64_t number_of_tests = 0;
  std::vector<CaseResult> results;
};

VerifierOptions RelaxedTimeOptions() {
  VerifierOptions options;
  options.policy.require_exp = false;
  return options;
}

// The token of a case: a string, or an object (JSON serialization) passed as its JSON text.
std::string TokenOf(simdjson::dom::element test, std::string_view field) {
  simdjson::dom::element t;
  if (test[field].get(t) != simdjson::SUCCESS) FAIL("case without " << field);
  std::string_view s;
  if (t.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  return simdjson::minify(t);
}

FileRun RunJoseFile(std::string_view name) {
  const std::string text = ReadVectorFile("wycheproof/testvectors_v1/" + std::string(name));
  simdjson::dom::parser parser;
  const simdjson::dom::element root = ParseOrFail(parser, text, name);
  FileRun run;
  run.number_of_tests = IntField(root, "numberOfTests");
  simdjson::dom::array groups;
  REQUIRE(root["testGroups"].get_array().get(groups) == simdjson::SUCCESS);
  VerifyContext ctx;
  for (simdjson::dom::element group : groups) {
    simdjson::dom::array tests;
    REQUIRE(group["tests"].get_array().get(tests) == simdjson::SUCCESS);
    simdjson::dom::element first;
    REQUIRE(tests.at(0).get(first) == simdjson::SUCCESS);
    const bool jwe = first["jwe"].error() == simdjson::SUCCESS;

    // JWS groups: the verification key is the group's public JWK (or JWKS); groups with a
    // symmetric key carry it under "private" only. JWE groups: their keys are decryption keys,
    // which a verifier never holds; the token meets an empty key set, so only its form decides.
    KeySet::Builder builder;
    Status import_status = Status::kOk;
    if (!jwe) {
      simdjson::dom::element key;
      if (group["public"].get(key) != simdjson::SUCCESS || key.is_null()) {
        REQUIRE(group["private"].get(key) == simdjson::SUCCESS);
      }
      import_status = builder.AddJwks(simdjson::minify(key));
    }
    const Verifier verifier(builder.Build(), RelaxedTimeOptions());

    for (simdjson::dom::element test : tests) {
      CaseResult r{IntField(test, "tcId"), std::string(StringField(test, "result")),
                   jwe ? "jwe_not_supported" : "", import_status};
      if (import_status == Status::kOk) {
        r.status = verifier.Verify(TokenOf(test, jwe ? "jwe" : "jws"), kNow, ctx, nullptr);
      }
      run.results.push_back(std::move(r));
    }
  }
  return run;
}

struct Pinned {
  std::string_view file;
  int cases;
  int valid_accepted;
  int invalid_rejected;
  int deviations;
};

// Counts per file, pinned so that a change in any direction shows up here first.
constexpr Pinned kPinned[] = {
    {"json_web_signature_test.json", 401, 34, 353, 14},
    {"json_web_key_test.json", 26, 5, 20, 1},
    {"json_web_crypto_test.json", 83, 4, 76, 3},
    {"json_web_encryption_test.json", 139, 0, 74, 65},
};

TEST_CASE("Wycheproof JOSE vectors through AddJwks and Verify agree with their labels or a "
          "written expectation",
          "[wycheproof][vectors]") {
  std::vector<std::string> files;
  for (const Pinned& p : kPinned) files.emplace_back(p.file);
  Ledger ledger(files);
  int total = 0;
  int agree = 0;
  int deviations = 0;
  for (const Pinned& p : kPinned) {
    const FileRun run = RunJoseFile(p.file);
    CHECK(static_cast<int64_t>(run.results.size()) == run.number_of_tests);
    for (const CaseResult& r : run.results) {
      ledger.Record(p.file, r.tc_id, r.label, r.rule, r.status, SignatureAccepted(r.status));
    }
    const Ledger::Counts& c = ledger.counts(p.file);
    WARN(ledger.Report(p.file));
    CHECK(c.cases == p.cases);
    CHECK(c.valid_accepted == p.valid_accepted);
    CHECK(c.invalid_rejected == p.invalid_rejected);
    CHECK(c.acceptable_accepted + c.acceptable_rejected == 0);
    CHECK(c.deviations == p.deviations);
    CHECK(c.agree() + c.deviations == c.cases);
    total += c.cases;
    agree += c.agree();
    deviations += c.deviations;
  }
  ledger.CheckNoStaleEntries();
  WARN("Wycheproof JOSE: " << total << " cases, " << agree << " agree with the label, "
                           << deviations << " listed deviations");
  CHECK(total == 649);
  CHECK(agree == 566);
  CHECK(deviations == 83);
}

// The cases the security catalogue (section 1) names as tests for an attack class, each with
// the specific status that must reject it.
TEST_CASE("Wycheproof JWS and JWK attack cases are rejected with the specific status",
          "[wycheproof][vectors]") {
  struct Row {
    std::string_view file;
    int64_t tc_id;
    Status status;
    std::string_view guards;
  };
  constexpr std::string_view kJws = "json_web_signature_test.json";
  constexpr std::string_view kJwk = "json_web_key_test.json";
  const Row kRows[] = {
      // An unsigned token has an empty third segment: it fails at the compact split, before
      // its header is even decoded.
      {kJws, 16, Status::kTokenMalformed, "A1: alg none, no signature"},
      {kJws, 341, Status::kTokenMalformed, "A1: alg none"},
      {kJws, 342, Status::kTokenMalformed, "A1: alg NONE"},
      {kJws, 343, Status::kTokenMalformed, "A1: alg none with kid"},
      {kJws, 344, Status::kTokenMalformed, "A1: alg none with the kid of a real key"},
      // A header alg that no key in the set is bound to is refused before key lookup: the
      // verifier's algorithms are intersected with the key set's.
      {kJws, 31, Status::kAlgNotAllowed, "A2: HS256 keyed with the EC verification key's bytes"},
      {kJws, 32, Status::kSignatureInvalid, "A4: attacker-provided embedded jwk is ignored"},
      {kJws, 331, Status::kSignatureInvalid, "A3: RS256 signature under a PS512 header"},
      {kJws, 332, Status::kAlgNotAllowed, "A3: RS256 header against a PS512 key"},
      {kJws, 334, Status::kAlgNotAllowed, "A3: RS384 header against a PS512 key"},
      {kJws, 336, Status::kAlgNotAllowed, "A3: RS512 header against a PS512 key"},
      {kJws, 338, Status::kAlgNotAllowed, "A3: PS256 header against a PS512 key"},
      {kJws, 340, Status::kAlgNotAllowed, "A3: PS384 header against a PS512 key"},
      {kJws, 353, Status::kKeyUsageMismatch, "A6: RSA key with use enc"},
      {kJws, 354, Status::kKeyUsageMismatch, "A6: EC key with use enc"},
      {kJws, 355, Status::kKeyUsageMismatch, "A6: RSA key with key_ops [encrypt]"},
      {kJws, 356, Status::kKeyUsageMismatch, "A6: EC key with key_ops [encrypt]"},
      {kJws, 3, Status::kTokenMalformed, "B8: HS256 with an empty signature segment"},
      {kJws, 4, Status::kTokenMalformed, "B8: HS256 without the signature segment"},
      {kJws, 20, Status::kTokenMalformed, "B8: ES256 with an empty signature segment"},
      {kJws, 21, Status::kTokenMalformed, "B8: ES256 without the signature segment"},
      {kJws, 35, Status::kTokenMalformed, "B8: RS256 with an empty signature segment"},
      {kJws, 36, Status::kTokenMalformed, "B8: RS256 without the signature segment"},
      {kJws, 17, Status::kTokenMalformed, "rule 3: JSON serialization"},
      {kJws, 14, Status::kTokenMalformed, "rule 3: four segments"},
      {kJws, 379, Status::kSignatureBadLength, "B2: ES256 signature too long"},
      {kJws, 380, Status::kSignatureBadLength, "B2: ES256 signature with trailing zeros"},
      {kJws, 385, Status::kSignatureBadLength, "B1/B2: r, s overflow into an over-long signature"},
      {kJws, 386, Status::kSignatureInvalid, "B1: r = 0, s = 0 (psychic signature)"},
      {kJws, 389, Status::kSignatureInvalid, "B1: r = 0, s = n"},
      {kJws, 401, Status::kSignatureInvalid, "B1: r = n, s = n"},
      {kJws, 360, Status::kTokenMalformed, "rule 3: whitespace in the signature"},
      {kJws, 374, Status::kSignatureInvalid, "rule 3: payload with modified unused bits"},
      // The MAC covers the token's bytes and verifies; the payload's non-zero trailing bits are
      // then refused by the strict decoder.
      {kJws, 375, Status::kPayloadBadBase64, "rule 3: MAC over a non-canonically encoded payload"},
      // The second key's "k" has non-zero trailing bits, so the set fails on that before the
      // duplicate kid is seen; the derived case below covers the duplicate itself.
      {kJwk, 4, Status::kJwkInvalid, "A5: duplicate kid in a JWKS"},
      {kJwk, 6, Status::kKeyUsageMismatch, "A6: RSA key with use enc and alg RSA1_5"},
      {kJwk, 8, Status::kKeyTooSmall, "A7: 1024-bit RSA key"},
      {kJwk, 9, Status::kKeyBadExponent, "A7: RSA public exponent 1"},
      {kJwk, 10, Status::kKeyTooSmall, "A7: HS256 key shorter than 256 bits"},
      {kJwk, 11, Status::kKeyTooSmall, "A7: HS384 key shorter than 384 bits"},
      {kJwk, 12, Status::kKeyTooSmall, "A7: HS512 key shorter than 512 bits"},
      {kJwk, 16, Status::kKeyTooSmall, "A7: empty HS256 key"},
      {kJwk, 17, Status::kKeyTooSmall, "A7: empty HS384 key"},
      {kJwk, 18, Status::kKeyTooSmall, "A7: empty HS512 key"},
      {kJwk, 19, Status::kKeyAlgMismatch, "A3: alg ES521 (not a JWS algorithm) on a P-256 key"},
      {kJwk, 20, Status::kKeyAlgMismatch, "A3: alg ES224 on a P-256 key"},
      {kJwk, 21, Status::kKeyUsageMismatch, "A6: EC key with use enc"},
      {kJwk, 22, Status::kKeyInvalid, "A7: EC point not on the curve"},
      {kJwk, 23, Status::kKeyAlgMismatch, "A3: P-256 coordinates declared as P-384 for ES256"},
      {kJwk, 24, Status::kKeyAlgMismatch, "A3: EC key declared as kty RSA"},
      {kJwk, 25, Status::kKeyAlgMismatch, "A2: AES-GCM key offered for signatures"},
      {kJwk, 26, Status::kKeyAlgMismatch, "A2: AES key-wrap key offered for signatures"},
  };
  std::map<std::string_view, std::map<int64_t, Status>> by_file;
  for (std::string_view file : {kJws, kJwk}) {
    for (const CaseResult& r : RunJoseFile(file).results) by_file[file][r.tc_id] = r.status;
  }
  for (const Row& row : kRows) {
    INFO(row.file << " tc " << row.tc_id << ": " << row.guards);
    REQUIRE(by_file[row.file].count(row.tc_id) == 1);
    CHECK(ToString(by_file[row.file][row.tc_id]) == ToString(row.status));
  }
  // B1: every special-case ES256 signature but the valid one (tc 378) fails the signature check
  // or the length check, never an earlier step.
  for (int64_t tc = 379; tc <= 401; ++tc) {
    INFO("tc " << tc);
    const Status s = by_file[kJws].at(tc);
    CHECK((s == Status::kSignatureInvalid || s == Status::kSignatureBadLength));
  }
}

// json_web_key_test.json tc 4 (jws_duplicate_kid) is rejected for an encoding flaw in its second
// key before the duplicate is seen. The same set with that key's trailing bits cleared must be
// rejected for the duplicate (kid, alg) itself.
TEST_CASE("Wycheproof duplicate-kid key set, with canonical keys, fails as key_duplicate",
          "[wycheproof][vectors]") {
  const std::string text = ReadVectorFile("wycheproof/testvectors_v1/json_web_key_test.json");
  REQUIRE(text.find("-xxuDNsVZ2iJtos-akfXTSCt4UO2cruLCsbWlBingge") != std::string::npos);
  const std::string jwks =
      R"({"keys":[)"
      R"({"alg":"HS256","use":"sig","k":"-ebuDNsVZ2iJtoZ-akfXTSCt4UO2cruLCsbWlBinggE",)"
      R"("kid":"kid-aes-sign","kty":"oct"},)"
      R"({"alg":"HS256","use":"sig","k":"-xxuDNsVZ2iJtos-akfXTSCt4UO2cruLCsbWlBinggc",)"
      R"("kid":"kid-aes-sign","kty":"oct"}]})";
  KeySet::Builder builder;
  CHECK(ToString(builder.AddJwks(jwks)) == ToString(Status::kKeyDuplicate));
  CHECK(builder.size() == 0);  // all or nothing
}

}  // namespace
}  // namespace jwtgate
