// Fuzz target: JWKS (or single JWK) text through KeySet::Builder::AddJwks, strict and with
// skip_unsupported plus a default alg.
//
// Oracles: no crash, leak or sanitizer report; a failing import reports a key-import status;
// a successful import yields a set in which every described key is found again by its own
// (kid, alg), whose algs() covers every key, and which can verify (or refuse) tokens. A set
// that imports is also imported the same way a second time (import is deterministic).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/key_set_access.h"
#include "fuzz_support.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

namespace jwtgate::fuzz {
namespace {

// One token per algorithm family, signed by the fixed keys (the seed corpus of token_verify
// holds the same kinds); verifying them against an arbitrary imported set must not crash.
const std::vector<std::string>& ProbeTokens() {
  static const auto* tokens = new std::vector<std::string>{
      // {"alg":"HS256","kid":"hs-1"} {"sub":"a"}, wrong signature on purpose for most sets.
      "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLTEifQ.eyJzdWIiOiJhIn0."
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      // {"alg":"RS256"} {"sub":"a"}
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.AAAA",
      // {"alg":"ES256","kid":"es-1"} {"sub":"a"}, 64 zero bytes
      "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzLTEifQ.eyJzdWIiOiJhIn0."
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      // {"alg":"EdDSA"} {"sub":"a"}, 64 zero bytes
      "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0."
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  };
  return *tokens;
}

void CheckSet(const KeySet& set) {
  const std::vector<KeySet::Info> infos = set.Describe();
  if (infos.size() != set.size()) Fail("Describe() and size() disagree");
  for (const KeySet::Info& info : infos) {
    if (!set.algs().Contains(info.alg)) Fail("algs() misses a key's alg");
    const Key* key = nullptr;
    const Status s = crypto::KeySetAccess::Find(set, info.has_kid, info.kid, info.alg, &key);
    // Without kid a key is found only when it is the one key of its alg.
    if (info.has_kid && (s != Status::kOk || key == nullptr)) {
      Fail("a key is not found by its own (kid, alg)", ToString(s));
    }
    if (!info.has_kid && s != Status::kOk && s != Status::kKidRequired) {
      Fail("a key without kid is neither found nor ambiguous", ToString(s));
    }
  }
}

void Import(std::string_view json, const JwksOptions& options) {
  KeySet::Builder builder;
  const Status s = builder.AddJwks(json, options);
  if (s != Status::kOk) {
    if (!IsKeyImportStatus(s)) Fail("import failed with a token status", ToString(s));
    return;
  }
  KeySet::Builder again;
  const Status again_status = again.AddJwks(json, options);
  if (again_status != Status::kOk || again.size() != builder.size()) {
    Fail("import is not deterministic", ToString(again_status));
  }
  std::shared_ptr<const KeySet> set = builder.Build();
  CheckSet(*set);
  Verifier verifier(set, VerifierOptions{});
  static VerifyContext* ctx = new VerifyContext();  // reused by every input, never freed
  for (const std::string& token : ProbeTokens()) {
    Claims claims;
    if (verifier.Verify(token, kNow, *ctx, &claims) == Status::kOk &&
        claims.alg != Alg::kHS256) {
      // Only an imported oct key can make one of the probes valid (all-zero signatures and
      // public keys): HS256 with a secret the fuzzer chose is legitimate.
      Fail("a probe token with an all-zero signature verified", token);
    }
  }
}

}  // namespace
}  // namespace jwtgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jwtgate::fuzz;
  const std::string json(AsText(data, size));  // own copy: exact bounds for ASan
  Import(json, jwtgate::JwksOptions{});
  jwtgate::JwksOptions lenient;
  lenient.skip_unsupported = true;
  lenient.default_alg = jwtgate::Alg::kRS256;
  Import(json, lenient);
  return 0;
}
