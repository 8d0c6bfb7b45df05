// Fuzz target: a compact token, verified against the fixed key set (HS256, RS256, ES256 and
// two EdDSA keys) under a strict and a lenient policy, at a fixed time, with a revocation
// check in front of nothing else.
//
// Oracles: the Verifier never crashes or leaks (sanitizers); the same token gets the same
// status twice; and a token is accepted (kOk) only when OpenSSL, called directly with the key
// the configuration binds to the reported (kid, alg), verifies its signature, and its claims
// obey the policy as an independent JSON parser reads them (fuzz_support.h).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "jwtgate/claims.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

namespace jwtgate::fuzz {
namespace {

// Revokes the jti "revoked": shows that the revocation step runs only after everything else.
class RevokeOneJti : public RevocationCheck {
 public:
  bool IsRevoked(const Claims& claims) const noexcept override {
    return claims.jti == "revoked";
  }
};

struct Fixture {
  Fixture() {
    keys = FixedKeySet();
    VerifierOptions strict_options;
    strict_options.policy = StrictPolicy();
    strict = std::make_unique<Verifier>(keys, strict_options, &revocation);
    VerifierOptions lenient_options;
    lenient_options.policy.require_exp = false;
    lenient_options.policy.leeway_s = 0;
    lenient = std::make_unique<Verifier>(keys, lenient_options);
  }
  std::shared_ptr<const KeySet> keys;
  RevokeOneJti revocation;
  std::unique_ptr<Verifier> strict;
  std::unique_ptr<Verifier> lenient;
  VerifyContext ctx;
};

void CheckOne(const Verifier& verifier, std::string_view token, VerifyContext& ctx) {
  Claims claims;
  const Status first = verifier.Verify(token, kNow, ctx, &claims);
  if (first != Status::kOk) {
    if (verifier.Verify(token, kNow, ctx, nullptr) != first) Fail("status differs on retry");
    return;
  }
  if (!IndependentSignatureCheck(token, claims.alg, claims.has_kid, claims.kid)) {
    Fail("accepted a token whose signature does not verify", token);
  }
  std::string header_json;
  if (!StrictBase64UrlDecode(token.substr(0, token.find('.')), &header_json)) {
    Fail("accepted a token whose header is not strict base64url", token);
  }
  CheckAcceptedClaims(header_json, claims, verifier.options().policy, kNow);
  if (claims.jti == "revoked" && verifier.revocation() != nullptr) {
    Fail("accepted a revoked token", token);
  }
  if (verifier.Verify(token, kNow, ctx, nullptr) != Status::kOk) Fail("kOk not repeatable");
}

}  // namespace
}  // namespace jwtgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jwtgate::fuzz;
  static Fixture* fixture = new Fixture();  // shared by every input, never freed
  const std::string token(AsText(data, size));  // own copy: exact bounds for ASan
  CheckOne(*fixture->strict, token, fixture->ctx);
  CheckOne(*fixture->lenient, token, fixture->ctx);
  return 0;
}
