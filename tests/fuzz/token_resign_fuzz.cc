// Fuzz target, structure-aware: the input is a header and a payload as JSON text, which the
// target signs with a trusted key before verifying, so that mutated JSON carries a valid
// signature and the fuzzer reaches the header rules and the claims policy behind the
// signature check.
//
// Input: one selector byte, then the header JSON, a 0xFF byte (never part of valid UTF-8
// JSON), then the payload JSON. Without 0xFF the rest is the payload and the Signer writes the
// header ({"alg":..,"typ":"JWT","kid":..}). Selector bits 0-1 choose the key: HS256 "hs-1"
// (0, 1), EdDSA "ed-1" (2), ES256 "es-1" (3).
//
// Oracles: a token accepted under the strict or the lenient policy satisfies that policy as an
// independent JSON parser reads it, and its signature verifies with OpenSSL directly; a token
// whose header names exactly the signing key (alg and kid) is never refused for its key or its
// signature.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_keys.h"
#include "fuzz_support.h"
#include "jwtgate/signer.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

namespace jwtgate::fuzz {
namespace {

struct SigningKey {
  Signer signer;
  std::string_view kid;
};

Signer Must(Result<Signer> r) {
  if (!r.ok()) Fail("cannot load a fixed signing key", ToString(r.status()));
  return std::move(r).value();
}

struct Fixture {
  Fixture()
      : hs256{Must(Signer::FromSecret(
                  std::string_view(reinterpret_cast<const char*>(kHs256Secret),
                                   sizeof(kHs256Secret)),
                  Alg::kHS256)),
              "hs-1"},
        eddsa{Must(Signer::FromPem(kEd25519PrivatePem, Alg::kEdDSA)), "ed-1"},
        es256{Must(Signer::FromPem(kEs256PrivatePem, Alg::kES256)), "es-1"} {
    auto keys = FixedKeySet();
    VerifierOptions strict_options;
    strict_options.policy = StrictPolicy();
    strict = std::make_unique<Verifier>(keys, strict_options);
    VerifierOptions lenient_options;
    lenient_options.policy.require_exp = false;
    lenient_options.policy.leeway_s = 0;
    lenient = std::make_unique<Verifier>(keys, lenient_options);
  }
  SigningKey hs256;
  SigningKey eddsa;
  SigningKey es256;
  std::unique_ptr<Verifier> strict;
  std::unique_ptr<Verifier> lenient;
  VerifyContext ctx;
};

// True when the header, read by an independent parser, names exactly `key`: its alg and its
// kid (required for EdDSA, which has two keys; optional for the others).
bool NamesKey(std::string_view header_json, const SigningKey& key) {
  const nlohmann::json h = nlohmann::json::parse(header_json, nullptr, false);
  if (!h.is_object() || !h.contains("alg") || !h["alg"].is_string()) return false;
  if (h["alg"].get<std::string>() != AlgName(key.signer.alg())) return false;
  if (!h.contains("kid")) return key.signer.alg() != Alg::kEdDSA;
  return h["kid"].is_string() && h["kid"].get<std::string>() == key.kid;
}

void CheckOne(const Verifier& verifier, const std::string& token, std::string_view header_json,
              const SigningKey& key, VerifyContext& ctx) {
  Claims claims;
  const Status s = verifier.Verify(token, kNow, ctx, &claims);
  if (s == Status::kOk) {
    if (!IndependentSignatureCheck(token, claims.alg, claims.has_kid, claims.kid)) {
      Fail("accepted a token whose signature does not verify with its key", token);
    }
    CheckAcceptedClaims(header_json, claims, verifier.options().policy, kNow);
    return;
  }
  const bool key_or_signature = s == Status::kSignatureInvalid ||
                                s == Status::kSignatureBadLength ||
                                s == Status::kSignatureBadBase64 || s == Status::kUnknownKid ||
                                s == Status::kKeyNotFound || s == Status::kKidRequired;
  if (key_or_signature && NamesKey(header_json, key)) {
    Fail("refused a token signed by the key its header names", ToString(s));
  }
}

}  // namespace
}  // namespace jwtgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jwtgate::fuzz;
  using jwtgate::Result;
  static Fixture* fixture = new Fixture();  // shared by every input, never freed
  if (size < 1 || size > 8192) return -1;
  const SigningKey& key = (data[0] & 3) == 2   ? fixture->eddsa
                          : (data[0] & 3) == 3 ? fixture->es256
                                               : fixture->hs256;
  const std::string_view rest = AsText(data + 1, size - 1);
  const size_t sep = rest.find('\xff');
  Result<std::string> token = jwtgate::Status::kInternalError;
  std::string header_json;
  if (sep == std::string_view::npos) {
    token = key.signer.Sign(rest, key.kid);
    if (!token.ok()) return 0;
    if (!StrictBase64UrlDecode(token->substr(0, token->find('.')), &header_json)) {
      Fail("the Signer wrote a header that is not strict base64url");
    }
  } else {
    header_json = std::string(rest.substr(0, sep));
    token = key.signer.SignRaw(header_json, rest.substr(sep + 1));
    if (!token.ok()) return 0;
  }
  CheckOne(*fixture->strict, *token, header_json, key, fixture->ctx);
  CheckOne(*fixture->lenient, *token, header_json, key, fixture->ctx);
  return 0;
}
