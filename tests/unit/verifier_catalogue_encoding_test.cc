// Security catalogue negatives for the Verifier (security-catalogue.md §1), rows C, D and E:
// serialization, base64url, JSON (duplicates, encoding, depth), header parameters the
// Verifier refuses (crit, b64, cty, zip, JWE-only) and the size caps. Each token is signed
// with a valid key.
#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <string_view>

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

TEST_CASE("C1: only the compact serialization is verified", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string token = Hs256(R"({"alg":"HS256"})", PayloadExp());
  const Segments s = Split(token);
  CHECK_STATUS(v(token), Status::kOk);
  CHECK_STATUS(v(token + "." + s.signature), Status::kTokenMalformed);
  CHECK_STATUS(v(token + ".a.b"), Status::kTokenIsJwe);
  CHECK_STATUS(v(R"({"payload":")" + s.payload + R"(","protected":")" + s.header +
                 R"(","signature":")" + s.signature + "\"}"),
               Status::kTokenMalformed);
  CHECK_STATUS(v("Bearer " + token), Status::kTokenMalformed);
  CHECK_STATUS(v(token + "\n"), Status::kTokenMalformed);
  CHECK_STATUS(v(" " + token), Status::kTokenMalformed);
}

TEST_CASE("C2: non-canonical base64url in each segment", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  // A 16-byte header (22 characters, 2 mod 4: four trailing bits) and a payload whose encoding
  // is 3 mod 4 characters long (two trailing bits), so that each has trailing bits to set.
  const std::string header = R"({"alg":"HS256"} )";
  std::string payload = PayloadExp();
  while (payload.size() % 3 != 2) payload += ' ';
  const std::string h = B64(header);
  const std::string p = B64(payload);
  REQUIRE(h.size() % 4 == 2);
  REQUIRE(p.size() % 4 == 3);
  const std::string token = HmacJwsSegments(h, p);
  REQUIRE(v(token) == Status::kOk);

  // Sets the lowest (trailing) bit of the last character.
  auto dirty = [](std::string seg) {
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    seg.back() = alphabet[alphabet.find(seg.back()) | 1];
    return seg;
  };
  // Signed over the modified ASCII, so the MAC is valid and only decoding can reject.
  CHECK_STATUS(v(HmacJwsSegments(dirty(h), p)), Status::kHeaderBadBase64);
  CHECK_STATUS(v(HmacJwsSegments(h, dirty(p))), Status::kPayloadBadBase64);
  CHECK_STATUS(v(HmacJwsSegments(B64(R"({"alg":"HS256"})") + "A", p)), Status::kHeaderBadBase64);
  CHECK_STATUS(v(HmacJwsSegments(h, p.substr(0, p.size() - 2))), Status::kPayloadBadBase64);
  const Segments s = Split(token);
  // The 32-byte tag is 43 characters: 2 trailing bits.
  CHECK_STATUS(v(s.header + "." + s.payload + "." + dirty(s.signature)),
               Status::kSignatureBadBase64);
  CHECK_STATUS(v(s.header + "." + s.payload + "." + s.signature + "AA"),
               Status::kSignatureBadBase64);

  // Characters outside the alphabet never get past the split, in any segment.
  for (std::string_view bad :
       {"="sv, "=="sv, " "sv, "\t"sv, "\r\n"sv, "+"sv, "/"sv, "?"sv, "#"sv, "\0"sv, "%3D"sv}) {
    INFO("inserted " << bad.size() << " bytes");
    CHECK_STATUS(v(HmacJwsSegments(h + std::string(bad), p)), Status::kTokenMalformed);
    CHECK_STATUS(v(HmacJwsSegments(h, p + std::string(bad))), Status::kTokenMalformed);
    CHECK_STATUS(v(token + std::string(bad)), Status::kTokenMalformed);
    CHECK_STATUS(v(HmacJwsSegments(h.substr(0, 4) + std::string(bad) + h.substr(4), p)),
                 Status::kTokenMalformed);
  }
}

TEST_CASE("C3: duplicate members, including escaped duplicates", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view header :
       {R"({"alg":"HS256","alg":"HS256"})"sv, R"({"alg":"none","alg":"HS256"})"sv,
        R"({"alg":"HS256","\u0061lg":"none"})"sv, R"({"\u0061lg":"none","alg":"HS256"})"sv,
        R"({"alg":"HS256","kid":"a","kid":"b"})"sv, R"({"alg":"HS256","x":{"y":1,"y":2}})"sv}) {
    INFO("header " << header);
    CHECK_STATUS(v(Hs256(header, p)), Status::kHeaderDuplicateMember);
  }
  const std::string exp = "\"exp\":" + std::to_string(kNow + 60);
  for (const std::string& payload :
       {"{" + exp + R"(,"sub":"alice","sub":"admin"})", "{" + exp + R"(,"sub":"a","\u0073ub":"b"})",
        "{" + exp + "," + exp + "}", "{" + exp + R"(,"ctx":{"role":"user","role":"admin"}})",
        "{" + exp + R"(,"l":[{"a":1,"a":2}]})"}) {
    INFO("payload " << payload);
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", payload)), Status::kPayloadDuplicateMember);
  }
}

TEST_CASE("C4: JSON encoding errors in header and payload", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string hs = R"({"alg":"HS256"})";
  const std::string p = PayloadExp();
  for (const std::string& header :
       {"\xef\xbb\xbf" + hs, R"({"alg":"HS256",})"s, R"({"alg":"HS256"/*c*/})"s,
        "{\"alg\":\"HS256\",\"x\":\"\xff\"}"s, R"({"alg":"HS256","x":"\ud800"})"s,
        R"({"alg":"HS256","x":NaN})"s, "{\"alg\":\"HS256\"}\0"s, ""s, "{"s,
        R"({'alg':'HS256'})"s}) {
    INFO("header " << header);
    CHECK_STATUS(v(header.empty() ? "." + B64(p) + ".AAAA" : Hs256(header, p)),
                 header.empty() ? Status::kTokenMalformed : Status::kHeaderBadJson);
  }
  const std::string exp = "\"exp\":" + std::to_string(kNow + 60);
  for (const std::string& payload :
       {"\xef\xbb\xbf{" + exp + "}", "{" + exp + ",}", "{" + exp + "//c\n}",
        "{" + exp + ",\"x\":\"\xc0\xaf\"}", "{" + exp + R"(,"x":"\udc00"})",
        "{" + exp + ",\"x\":Infinity}", "{" + exp + "} {}"}) {
    INFO("payload " << payload);
    CHECK_STATUS(v(Hs256(hs, payload)), Status::kPayloadBadJson);
  }
  for (std::string_view payload : {"[]"sv, "null"sv, "1700003600"sv, R"("claims")"sv, "true"sv}) {
    INFO("payload " << payload);
    CHECK_STATUS(v(Hs256(hs, payload)), Status::kPayloadNotObject);
  }
  CHECK_STATUS(v(Hs256(R"("HS256")", p)), Status::kHeaderNotObject);
  CHECK_STATUS(v(Hs256("[]", p)), Status::kHeaderNotObject);
}

TEST_CASE("C5: JSON depth is capped in header and payload", "[verifier][catalogue]") {
  // {"exp":...,"a":{"a":...{"b":1}...}}: `depth` objects in all, the top level being 1.
  auto nested = [](size_t depth, std::string_view first) {
    std::string s = "{" + std::string(first);
    for (size_t i = 1; i < depth; ++i) s += "\"a\":{";
    s += "\"b\":1";
    for (size_t i = 0; i < depth; ++i) s += "}";
    return s;
  };
  const std::string exp = "\"exp\":" + std::to_string(kNow + 60) + ",";
  Env v(Hs256Keys());  // max_json_depth 16
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", nested(2, exp))), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", nested(16, exp))), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256"})", nested(17, exp))), Status::kPayloadBadJson);
  CHECK_STATUS(v(Hs256(nested(16, R"("alg":"HS256",)"), PayloadExp())), Status::kOk);
  CHECK_STATUS(v(Hs256(nested(17, R"("alg":"HS256",)"), PayloadExp())), Status::kHeaderBadJson);

  // 100 000 levels (CVE-2025-53864), with caps raised so that only depth applies.
  VerifierOptions options;
  options.limits.max_token_bytes = 1 << 20;
  options.limits.max_payload_bytes = 1 << 19;
  Env big(Hs256Keys(), options);
  const std::string deep =
      "{" + exp + "\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_STATUS(big(Hs256(R"({"alg":"HS256"})", deep)), Status::kPayloadBadJson);
  CHECK_STATUS(big(Hs256(R"({"alg":"HS256"})", "{" + exp + "\"a\":" + std::string(100000, '['))),
               Status::kPayloadBadJson);
}

TEST_CASE("D1: crit is refused unless every entry is understood (none is)",
          "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view crit :
       {R"(["exp"])"sv, R"([])"sv, R"("b64")"sv, R"(["alg"])"sv, R"([null])"sv, R"(["nope"])"sv,
        R"(["x","x"])"sv, "null"sv, "{}"sv, R"(["b64"])"sv}) {
    INFO("crit " << crit);
    CHECK_STATUS(
        v(Hs256(R"({"alg":"HS256","crit":)" + std::string(crit) + R"(,"exp":1,"x":1})", p)),
        Status::kCritUnsupported);
  }
}

TEST_CASE("D2/D4/D5: b64, cty JWT and zip are refused", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","b64":false})", p)), Status::kB64Unsupported);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","b64":true})", p)), Status::kB64Unsupported);
  // panva/jose's unencoded-payload vector (key: 32 zero bytes): with its detached, empty
  // payload segment it never gets past the split.
  {
    Env zero(Keys().Hmac(std::string(32, '\0'), Alg::kHS256).Build());
    const Status s = zero(
        "eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19..VklKdp4tVYD61VNPDBTqxqdEQcUL3JK-"
        "D4dGXu9NvWs");
    CHECK_STATUS(s, Status::kTokenMalformed);
  }
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","cty":"JWT"})", p)), Status::kNestedJwtUnsupported);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","zip":"DEF"})", p)), Status::kZipUnsupported);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","zip":"none"})", p)), Status::kZipUnsupported);
  // A cty that is not JWT is only a hint and is ignored; so are unknown members.
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","cty":"example"})", p)), Status::kOk);
  CHECK_STATUS(v(Hs256(R"({"alg":"HS256","foo":{"bar":[1,2]}})", p)), Status::kOk);
}

TEST_CASE("D5: JWE-only header parameters are refused in a JWS", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view member : {R"("enc":"A128GCM")"sv, R"("epk":{"kty":"EC"})"sv,
                                  R"("p2c":1200000)"sv, R"("p2s":"AAAA")"sv, R"("iv":"AAAA")"sv,
                                  R"("tag":"AAAA")"sv, R"("apu":"AAAA")"sv, R"("apv":"AAAA")"sv}) {
    INFO(member);
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256",)" + std::string(member) + "}", p)),
                 Status::kJweHeaderParameter);
  }
}

TEST_CASE("D4: cty is a media type, so every spelling of JWT is refused", "[verifier][catalogue]") {
  Env v(Hs256Keys());
  const std::string p = PayloadExp();
  for (std::string_view cty : {"jwt"sv, "Jwt"sv, "application/jwt"sv, "APPLICATION/JWT"sv}) {
    INFO("cty " << cty);
    CHECK_STATUS(v(Hs256(R"({"alg":"HS256","cty":")" + std::string(cty) + "\"}", p)),
                 Status::kNestedJwtUnsupported);
  }
}

TEST_CASE("E1: size caps at cap - 1, cap and cap + 1", "[verifier][catalogue]") {
  const std::string hs = R"({"alg":"HS256"})";
  SECTION("token") {
    const std::string token = Hs256(hs, PayloadExp());
    for (size_t delta : {size_t{0}, size_t{1}}) {
      VerifierOptions options;
      options.limits.max_token_bytes = token.size() + delta;
      Env v(Hs256Keys(), options);
      CHECK_STATUS(v(token), Status::kOk);
    }
    VerifierOptions options;
    options.limits.max_token_bytes = token.size() - 1;
    Env v(Hs256Keys(), options);
    CHECK_STATUS(v(token), Status::kTokenTooLarge);
  }
  SECTION("decoded header, default 1024 bytes") {
    Env v(Hs256Keys());
    auto header_of = [](size_t n) {
      return R"({"alg":"HS256","pad":")" + std::string(n - 24, 'x') + "\"}";
    };
    REQUIRE(header_of(1024).size() == 1024);
    CHECK_STATUS(v(Hs256(header_of(1023), PayloadExp())), Status::kOk);
    CHECK_STATUS(v(Hs256(header_of(1024), PayloadExp())), Status::kOk);
    CHECK_STATUS(v(Hs256(header_of(1025), PayloadExp())), Status::kHeaderTooLarge);
  }
  SECTION("decoded payload, default 6144 bytes") {
    VerifierOptions options;
    options.limits.max_token_bytes = 16384;  // so that only the payload cap applies
    Env v(Hs256Keys(), options);
    auto payload_of = [](size_t n) {
      const std::string head = "{\"exp\":" + std::to_string(kNow + 60) + ",\"pad\":\"";
      return head + std::string(n - head.size() - 2, 'x') + "\"}";
    };
    REQUIRE(payload_of(6144).size() == 6144);
    CHECK_STATUS(v(Hs256(hs, payload_of(6143))), Status::kOk);
    CHECK_STATUS(v(Hs256(hs, payload_of(6144))), Status::kOk);
    CHECK_STATUS(v(Hs256(hs, payload_of(6145))), Status::kPayloadTooLarge);
  }
  SECTION("the default token cap is 8192 bytes") {
    Env v(Hs256Keys());
    CHECK_STATUS(v(std::string(8193, 'A')), Status::kTokenTooLarge);
    CHECK_STATUS(v(std::string(1 << 20, 'A')), Status::kTokenTooLarge);
  }
}

}  // namespace
}  // namespace jwtgate
