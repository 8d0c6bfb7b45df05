// Verifier mutation sweep over all 13 algorithms: every signature bit flipped and every
// truncation length, each with the exact status the rule below predicts.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"
#include "test_support.h"

namespace jwtgate {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;
using namespace test;

// Truncation rule for a token H.P.S cut to its first `len` bytes:
//   len == 0                            -> token_empty
//   fewer than two dots in the prefix   -> token_malformed (fewer than three segments)
//   prefix ends at the second dot       -> token_malformed (empty signature segment)
//   prefix ends inside S, the cut signature being k characters long:
//     k == 1 (mod 4)                    -> signature_bad_base64 (no base64url text has that
//                                          length)
//     otherwise                         -> signature_bad_length (shorter than the fixed size
//                                          of the key's signatures: HS* digest, RSA modulus,
//                                          2 * coordinate for ES*, 64 for EdDSA; the length is
//                                          judged before the characters are decoded)
//   len == |token|                      -> ok

Status ExpectedForPrefix(std::string_view token, size_t len) {
  if (len == 0) return Status::kTokenEmpty;
  if (len == token.size()) return Status::kOk;
  const std::string_view cut = token.substr(0, len);
  if (std::count(cut.begin(), cut.end(), '.') < 2) return Status::kTokenMalformed;
  const std::string_view sig = cut.substr(cut.rfind('.') + 1);
  if (sig.empty()) return Status::kTokenMalformed;
  return sig.size() % 4 == 1 ? Status::kSignatureBadBase64 : Status::kSignatureBadLength;
}

size_t ExpectedSignatureSize(Alg alg, size_t rsa_bytes) {
  switch (FamilyOf(alg)) {
    case AlgFamily::kHmac:
      return DigestSize(alg);
    case AlgFamily::kRsaPkcs1:
    case AlgFamily::kRsaPss:
      return rsa_bytes;
    case AlgFamily::kEcdsa:
      return alg == Alg::kES256 ? 64 : alg == Alg::kES384 ? 96 : 132;
    case AlgFamily::kEdDsa:
      return 64;
  }
  return 0;
}

TEST_CASE("mutation sweep over all 13 algorithms", "[verifier][sweep]") {
  for (Alg alg : kAllAlgs) {
    DYNAMIC_SECTION(AlgName(alg)) {
      const Generated g = Generate(alg, "sweep");
      const Signer signer = SignerFor(g);
      Env verify(Keys().Jwks(g.public_jwk).Build());
      const std::string token = Sign(signer, PayloadExp(), "sweep");
      Claims claims;
      REQUIRE(verify(token, kNow, &claims) == Status::kOk);
      CHECK(claims.alg == alg);
      CHECK(claims.kid == "sweep");

      const Segments seg = Split(token);
      const std::string signing_prefix = seg.header + "." + seg.payload + ".";
      const std::string sig = Unb64(seg.signature);
      if (FamilyOf(alg) != AlgFamily::kRsaPkcs1 && FamilyOf(alg) != AlgFamily::kRsaPss) {
        CHECK(sig.size() == ExpectedSignatureSize(alg, 0));
      } else {
        CHECK(sig.size() >= 256);
      }

      std::vector<std::string> mismatches;
      for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
        const Status got = verify(signing_prefix + B64(FlipBit(sig, bit)));
        if (got != Status::kSignatureInvalid && mismatches.size() < 10) {
          mismatches.push_back("bit " + std::to_string(bit) + ": " + std::string(ToString(got)));
        }
      }
      INFO("flipped bits not rejected as signature_invalid (first 10): " << mismatches.size());
      for (const std::string& m : mismatches) INFO(m);
      CHECK(mismatches.empty());
      if (!mismatches.empty()) FAIL_CHECK(mismatches.front());

      std::vector<std::string> cut_mismatches;
      for (size_t len = 0; len <= token.size(); ++len) {
        const Status want = ExpectedForPrefix(token, len);
        const Status got = verify(std::string_view(token).substr(0, len));
        if (got != want && cut_mismatches.size() < 10) {
          cut_mismatches.push_back(
              "len " + std::to_string(len) + " of " + std::to_string(token.size()) + ": want " +
              std::string(ToString(want)) + ", got " + std::string(ToString(got)));
        }
      }
      CHECK(cut_mismatches.empty());
      for (const std::string& m : cut_mismatches) FAIL_CHECK(m);

      // Appending to the signature: one more character (by the same rule), or one more byte.
      const size_t longer = Split(token).signature.size() + 1;
      CHECK_STATUS(verify(token + "A"),
                   longer % 4 == 1 ? Status::kSignatureBadBase64 : Status::kSignatureBadLength);
      // Same length, but a non-zero trailing bit in the last character (where there is one).
      const std::string sig_b64 = Split(token).signature;
      if (sig_b64.size() % 4 != 0) {
        const std::string_view alphabet =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        std::string dirty = token;
        dirty.back() = alphabet[alphabet.find(dirty.back()) | 1];
        CHECK_STATUS(verify(dirty), Status::kSignatureBadBase64);
      }
      CHECK_STATUS(verify(WithSignature(token, sig + "\0"s)), Status::kSignatureBadLength);
      CHECK_STATUS(verify(WithSignature(token, "\0"s + sig)), Status::kSignatureBadLength);
    }
  }
}

}  // namespace
}  // namespace jwtgate
