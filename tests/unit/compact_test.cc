// SplitCompact: the JWS compact serialization (RFC 7515 §7.1) and nothing else.
#include "jose/compact.h"

#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "jwtgate/status.h"

namespace jwtgate::jose {
namespace {

using namespace std::string_view_literals;

constexpr size_t kCap = 8192;

// SplitCompact's verdict, checked against the path without the AVX2 scan (what a CPU without
// AVX2 runs): same status, same segments.
Status Split(std::string_view token, size_t cap = kCap) {
  CompactParts parts;
  CompactParts baseline;
  const Status s = SplitCompact(token, cap, &parts);
  const Status b = SplitCompactBaseline(token, cap, &baseline);
  if (s != b || (s == Status::kOk && (parts.header != baseline.header ||
                                      parts.payload != baseline.payload ||
                                      parts.signature != baseline.signature))) {
    FAIL_CHECK("SplitCompactBaseline disagrees with SplitCompact on a token of " << token.size()
                                                                                 << " bytes");
  }
  return s;
}

// A token of exactly `n` bytes (n >= 5) with three valid segments.
std::string TokenOfSize(size_t n) {
  const size_t body = n - 2;  // two dots
  const size_t h = body / 3;
  const size_t p = body / 3;
  const size_t s = body - h - p;
  return std::string(h, 'h') + "." + std::string(p, 'p') + "." + std::string(s, 's');
}

TEST_CASE("SplitCompact returns views of the three segments and the signing input", "[compact]") {
  const std::string token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";
  CompactParts parts;
  REQUIRE(SplitCompact(token, kCap, &parts) == Status::kOk);
  CHECK(parts.header == "eyJhbGciOiJIUzI1NiJ9");
  CHECK(parts.payload == "eyJzdWIiOiJhIn0");
  CHECK(parts.signature == "c2lnbmF0dXJl");
  CHECK(parts.signing_input == "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0");
  // Views into the token itself, never copies.
  CHECK(parts.header.data() == token.data());
  CHECK(parts.signing_input.data() == token.data());
  CHECK(parts.payload.data() == token.data() + 21);
  CHECK(parts.signature.data() == token.data() + 37);
  CHECK(parts.signature.data() + parts.signature.size() == token.data() + token.size());
}

TEST_CASE("SplitCompact accepts every character of the base64url alphabet", "[compact]") {
  CHECK(Split("a.b.c") == Status::kOk);
  CHECK(Split("ABCDEFGHIJKLMNOPQRSTUVWXYZ.abcdefghijklmnopqrstuvwxyz.0123456789-_") == Status::kOk);
  CHECK(Split("-.-._") == Status::kOk);
  // SplitCompact checks the shape only; base64 canonicity is the decoder's job.
  CHECK(Split("A.A.A") == Status::kOk);
}

TEST_CASE("SplitCompact classifies segment counts", "[compact]") {
  struct Case {
    std::string_view token;
    Status want;
  };
  const Case cases[] = {
      {""sv, Status::kTokenEmpty},
      {"a"sv, Status::kTokenMalformed},
      {"a.b"sv, Status::kTokenMalformed},
      {"a.b.c.d"sv, Status::kTokenMalformed},
      // Five well-formed segments: a JWE (RFC 7516 §7.1), never verified as a JWS.
      {"a.b.c.d.e"sv, Status::kTokenIsJwe},
      {"eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYU"
       "mKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbS"
       "v04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqN"
       "zo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2"
       "LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALv"
       "tu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ"sv,
       Status::kTokenIsJwe},
      {"a.b.c.d.e.f"sv, Status::kTokenMalformed},
      {"a.b.c.d.e.f.g"sv, Status::kTokenMalformed},
      // Empty segments: a JWS never has an empty header, payload or signature (the RFC 7515
      // A.5 unsecured token is the classic case).
      {"."sv, Status::kTokenMalformed},
      {".."sv, Status::kTokenMalformed},
      {"..."sv, Status::kTokenMalformed},
      {"a.."sv, Status::kTokenMalformed},
      {".b."sv, Status::kTokenMalformed},
      {"..c"sv, Status::kTokenMalformed},
      {".b.c"sv, Status::kTokenMalformed},
      {"a..c"sv, Status::kTokenMalformed},
      {"a.b."sv, Status::kTokenMalformed},
      {"eyJhbGciOiJub25lIn0"
       ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
       "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."sv,
       Status::kTokenMalformed},
      {"a.b.c."sv, Status::kTokenMalformed},
      {".a.b.c"sv, Status::kTokenMalformed},
      {"a.b.c.d."sv, Status::kTokenMalformed},
      {"a.b.c.d.e."sv, Status::kTokenMalformed},
      {"a..c.d.e.f"sv, Status::kTokenMalformed},
  };
  for (const Case& c : cases) {
    INFO("token: " << c.token);
    CHECK(Split(c.token) == c.want);
  }
}

TEST_CASE("SplitCompact rejects any character outside [A-Za-z0-9_-] and the two dots",
          "[compact]") {
  const std::string_view cases[] = {
      // base64 padding and the standard alphabet
      "a=.b.c"sv,
      "a.b=.c"sv,
      "a.b.c="sv,
      "a.b.c=="sv,
      "a+.b.c"sv,
      "a.b/.c"sv,
      "a.b.c+/"sv,
      // whitespace anywhere, including around the token
      "a b.c.d"sv,
      "a.b .c"sv,
      " a.b.c"sv,
      "a.b.c "sv,
      "a.b.c\n"sv,
      "a.b.c\r\n"sv,
      "\ta.b.c"sv,
      "a.\nb.c"sv,
      // NUL and other controls
      "a.b.c\0"sv,
      "a\0.b.c"sv,
      "a.b\x01.c"sv,
      "a.b.c\x7f"sv,
      // punctuation a lenient decoder might skip
      "a.b.c?"sv,
      "a?.b.c"sv,
      "a.b#.c"sv,
      "a.b.c%3D"sv,
      "a,b,c"sv,
      "a:b:c"sv,
      "a.b.c;"sv,
      "'a.b.c'"sv,
      "\"a.b.c\""sv,
      // non-ASCII: UTF-8, Latin-1, a BOM
      "a.b.\xc3\xa9"sv,
      "a.\xff.c"sv,
      "\xef\xbb\xbf"
      "a.b.c"sv,
      // "Bearer " prefixes belong to the HTTP layer, not here
      "Bearer a.b.c"sv,
      // JSON serializations (RFC 7515 §7.2), flattened and general
      R"({"payload":"eyJzdWIiOiJhIn0","protected":"eyJhbGciOiJIUzI1NiJ9","signature":"c2ln"})"sv,
      R"({"payload":"eyJzdWIiOiJhIn0",)"
      R"("signatures":[{"protected":"eyJhbGciOiJIUzI1NiJ9","signature":"c2ln"}]})"sv,
      // a compact/JSON polyglot (CVE-2022-39227 shape)
      R"({"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln":"","protected":"x"})"sv,
      // five segments, but one of them bad
      "a.b.c.d.e="sv,
      "a.b.c.d.e "sv,
      "a.b+.c.d.e"sv,
  };
  for (std::string_view token : cases) {
    INFO("token: " << token);
    CHECK(Split(token) == Status::kTokenMalformed);
  }
}

TEST_CASE("SplitCompact rejects each bad character in each segment position", "[compact]") {
  const std::string_view bad = "= +/\t\n\r\0?#%&*!~$\\\x80\xff"sv;
  const std::string base = "hdr.pld.sig";
  for (char c : bad) {
    for (size_t pos :
         {size_t{0}, size_t{1}, size_t{2}, size_t{4}, size_t{6}, size_t{8}, size_t{10}}) {
      std::string t = base;
      t[pos] = c;
      INFO("byte " << static_cast<int>(static_cast<unsigned char>(c)) << " at " << pos);
      CHECK(Split(t) == Status::kTokenMalformed);
      // Inserting instead of replacing.
      std::string u = base;
      u.insert(pos, 1, c);
      CHECK(Split(u) == Status::kTokenMalformed);
    }
  }
}

TEST_CASE("SplitCompact checks every byte and finds every dot of a long token", "[compact]") {
  // Long enough for the 32- and 16-byte blocks and the scalar tail; the dots fall on and beside
  // the block edges.
  for (size_t first_dot : {31u, 32u, 33u, 63u, 64u}) {
    std::string t(301, 'A');
    const size_t second_dot = first_dot + 129;
    t[first_dot] = '.';
    t[second_dot] = '.';
    CompactParts parts;
    REQUIRE(SplitCompact(t, kCap, &parts) == Status::kOk);
    CHECK(Split(t) == Status::kOk);  // and the path without AVX2 agrees
    CHECK(parts.header.size() == first_dot);
    CHECK(parts.payload.size() == 128);
    CHECK(parts.signature.size() == t.size() - second_dot - 1);
    size_t checked = 0;
    for (size_t pos = 0; pos < t.size(); ++pos) {
      if (pos == first_dot || pos == second_dot) continue;
      for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const bool alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (alphabet) continue;
        // A byte outside the class, or a third dot (or one beside another): malformed.
        std::string u = t;
        u[pos] = c;
        if (Split(u) != Status::kTokenMalformed) {
          FAIL_CHECK("byte " << b << " at " << pos << " with dots at " << first_dot);
        }
        ++checked;
      }
    }
    CHECK(checked == (t.size() - 2) * (256 - 64));
    // Two more dots (not adjacent to others): five segments, a JWE.
    std::string jwe = t;
    jwe[first_dot + 40] = '.';
    jwe[second_dot + 40] = '.';
    CHECK(Split(jwe) == Status::kTokenIsJwe);
    jwe[second_dot + 80] = '.';
    CHECK(Split(jwe) == Status::kTokenMalformed);
  }
  // A dot near the end, where a vector scan may look at the last bytes twice: counted once.
  for (size_t last_dot : {270u, 280u, 287u, 288u, 295u, 299u}) {
    std::string t(301, 'B');
    t[100] = '.';
    t[last_dot] = '.';
    CompactParts parts;
    INFO("second dot at " << last_dot);
    REQUIRE(SplitCompact(t, kCap, &parts) == Status::kOk);
    CHECK(Split(t) == Status::kOk);
    CHECK(parts.payload.size() == last_dot - 101);
    CHECK(parts.signature.size() == t.size() - last_dot - 1);
    t[50] = '.';
    t[200] = '.';
    CHECK(Split(t) == Status::kTokenIsJwe);
  }
}

TEST_CASE("SplitCompact enforces the size cap at cap-1, cap and cap+1", "[compact]") {
  for (size_t cap : {size_t{16}, size_t{100}, size_t{8192}}) {
    INFO("cap " << cap);
    CHECK(Split(TokenOfSize(cap - 1), cap) == Status::kOk);
    CHECK(Split(TokenOfSize(cap), cap) == Status::kOk);
    CHECK(Split(TokenOfSize(cap + 1), cap) == Status::kTokenTooLarge);
    CHECK(Split(TokenOfSize(cap * 4), cap) == Status::kTokenTooLarge);
  }
  REQUIRE(TokenOfSize(8192).size() == 8192);
  CHECK(Split(TokenOfSize(8192)) == Status::kOk);
  CHECK(Split(TokenOfSize(8193)) == Status::kTokenTooLarge);
  // The cap is checked before the work it bounds: an oversized token is too large whatever
  // its content.
  CHECK(Split(std::string(kCap + 1, '!')) == Status::kTokenTooLarge);
  CHECK(Split(std::string(kCap + 1, '.')) == Status::kTokenTooLarge);
  CHECK(Split("a.b.c.d.e" + std::string(kCap, 'e')) == Status::kTokenTooLarge);
  CHECK(Split(std::string(1 << 20, 'a')) == Status::kTokenTooLarge);
}

TEST_CASE("SplitCompact leaves the caller's parts usable on success only", "[compact]") {
  // A failed split may leave `out` in any state, but a later successful one overwrites it.
  CompactParts parts;
  CHECK(SplitCompact("a.b", kCap, &parts) == Status::kTokenMalformed);
  REQUIRE(SplitCompact("xx.yy.zz", kCap, &parts) == Status::kOk);
  CHECK(parts.header == "xx");
  CHECK(parts.payload == "yy");
  CHECK(parts.signature == "zz");
  CHECK(parts.signing_input == "xx.yy");
}

}  // namespace
}  // namespace jwtgate::jose
