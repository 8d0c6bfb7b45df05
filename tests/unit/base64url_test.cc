// Strict base64url (RFC 4648 §5 as restricted by RFC 7515 §2): canonical and non-canonical
// encodings, round trips, and a differential test against libsodium's strict decoder.
#include "jose/base64url.h"

#include <sodium.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/hex.h"

namespace jwtgate::jose {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Decodes through the allocation-free form into a buffer of exactly the size the contract asks
// for, so that an overrun is a heap overflow under AddressSanitizer.
bool DecodeExact(std::string_view in, std::string* out) {
  const size_t cap = Base64UrlDecodedSize(in.size());
  auto buf = std::make_unique<uint8_t[]>(cap);
  size_t n = 0;
  if (!Base64UrlDecode(in, buf.get(), &n)) return false;
  if (n > cap) FAIL("decoded length " << n << " exceeds Base64UrlDecodedSize " << cap);
  out->assign(reinterpret_cast<const char*>(buf.get()), n);
  return true;
}

// Both overloads, and the portable loop alone (what a CPU without AVX2 runs), must agree;
// returns their common verdict. Records a failure (without adding an assertion per call when
// they agree) if they do not.
bool Decode(std::string_view in, std::string* out) {
  std::string a;
  std::string b;
  const bool ok_a = DecodeExact(in, &a);
  const bool ok_b = Base64UrlDecode(in, &b);
  if (ok_a != ok_b || (ok_a && a != b)) {
    FAIL_CHECK("the two Base64UrlDecode overloads disagree on " << in);
  }
  auto buf = std::make_unique<uint8_t[]>(Base64UrlDecodedSize(in.size()) + 1);
  size_t n = 0;
  const bool ok_c = Base64UrlDecodeBaseline(in, buf.get(), &n);
  if (ok_c != ok_a || (ok_c && std::string(reinterpret_cast<const char*>(buf.get()), n) != a)) {
    FAIL_CHECK("Base64UrlDecodeBaseline disagrees with Base64UrlDecode on " << in);
  }
  *out = a;
  return ok_a;
}

// libsodium's URL-safe, unpadded decoder with no ignored characters and the whole input required
// (b64_end == nullptr): it rejects '=', whitespace, "+/", non-zero trailing bits and a length of
// 1 mod 4. It differs from the JWS rule in two ways, so the differential tests stay clear of
// both: it accepts the empty string, and libsodium 1.0.18 (bookworm) maps every byte >= 0x80 to
// the value 63 where `char` is signed (its constant-time classifier is fed a negative int), so
// "\x80A" decodes to 0xfc. Bytes >= 0x80 are covered by the table tests instead.
bool SodiumDecode(std::string_view in, std::string* out) {
  std::vector<unsigned char> buf(in.size() + 1);
  size_t bin_len = 0;
  const int rc = sodium_base642bin(buf.data(), buf.size(), in.data(), in.size(), nullptr, &bin_len,
                                   nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  if (rc != 0) return false;
  out->assign(reinterpret_cast<const char*>(buf.data()), bin_len);
  return true;
}

std::string Hex(std::string_view s) { return base::HexEncode(s); }

// Differential check of one input; returns false (and records the failure) on disagreement.
bool AgreesWithSodium(std::string_view in) {
  std::string ours;
  std::string theirs;
  const bool ok_ours = Decode(in, &ours);
  const bool ok_theirs = SodiumDecode(in, &theirs);
  if (ok_ours == ok_theirs && (!ok_ours || ours == theirs)) return true;
  FAIL_CHECK("disagreement on input hex " << Hex(in) << ": jwtgate " << ok_ours << " [" << Hex(ours)
                                          << "], libsodium " << ok_theirs << " [" << Hex(theirs)
                                          << "]");
  return false;
}

TEST_CASE("Base64UrlDecodedSize and Base64UrlEncodedSize are exact", "[base64url]") {
  CHECK(Base64UrlDecodedSize(0) == 0);
  CHECK(Base64UrlDecodedSize(2) == 1);
  CHECK(Base64UrlDecodedSize(3) == 2);
  CHECK(Base64UrlDecodedSize(4) == 3);
  CHECK(Base64UrlDecodedSize(6) == 4);
  CHECK(Base64UrlDecodedSize(43) == 32);
  CHECK(Base64UrlDecodedSize(86) == 64);
  CHECK(Base64UrlDecodedSize(342) == 256);
  CHECK(Base64UrlEncodedSize(0) == 0);
  CHECK(Base64UrlEncodedSize(1) == 2);
  CHECK(Base64UrlEncodedSize(2) == 3);
  CHECK(Base64UrlEncodedSize(3) == 4);
  CHECK(Base64UrlEncodedSize(32) == 43);
  CHECK(Base64UrlEncodedSize(64) == 86);
  CHECK(Base64UrlEncodedSize(132) == 176);
  for (size_t n = 0; n < 600; ++n) {
    INFO("n = " << n);
    CHECK(Base64UrlDecodedSize(Base64UrlEncodedSize(n)) == n);
  }
}

TEST_CASE("Base64UrlDecode accepts canonical encodings", "[base64url]") {
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  // RFC 4648 §10 test vectors without padding, plus the two URL-safe characters.
  const Case cases[] = {
      {"Zg", "f"},
      {"Zm8", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYg", "foob"},
      {"Zm9vYmE", "fooba"},
      {"Zm9vYmFy", "foobar"},
      {"AAAA", "\0\0\0"sv},
      {"AA", "\0"sv},
      {"AAA", "\0\0"sv},
      {"_w", "\xff"},
      {"__8", "\xff\xff"},
      {"____", "\xff\xff\xff"},
      {"-_-_", "\xfb\xff\xbf"},
      {"-w", "\xfb"},
      {"eyJhbGciOiJIUzI1NiJ9", "{\"alg\":\"HS256\"}"},
  };
  for (const Case& c : cases) {
    INFO("input: " << c.in);
    std::string out;
    REQUIRE(Decode(c.in, &out));
    CHECK(out == c.want);
  }
}

TEST_CASE("Base64UrlDecode rejects non-canonical encodings", "[base64url]") {
  const std::string_view cases[] = {
      // Empty: a JWS segment is never empty.
      ""sv,
      // Padding, in every position it could appear.
      "Zg=="sv,
      "Zg="sv,
      "Zm8="sv,
      "Zm9v="sv,
      "Zm9v===="sv,
      "="sv,
      "=="sv,
      "===="sv,
      "Z=g"sv,
      // Whitespace: RFC 7515 §2 allows no line breaks, whitespace or other characters.
      "Zm 9v"sv,
      " Zm9v"sv,
      "Zm9v "sv,
      "Zm9v\n"sv,
      "Zm9v\r\n"sv,
      "\tZm9v"sv,
      "Zm\x0bv"sv,
      "Zm9v\f"sv,
      // The standard (non-URL) alphabet.
      "Zm+v"sv,
      "Zm/v"sv,
      "+/+/"sv,
      "ab+c"sv,
      // Characters outside any base64 alphabet.
      "Zm?v"sv,
      "Zm#v"sv,
      "Zm.v"sv,
      "Zm9v."sv,
      "Zm,v"sv,
      "Zm%2"sv,
      "Zm9\x7f"sv,
      // NUL, in the middle and at the end (lengths passed explicitly).
      "Zm\0v"sv,
      "Zm9v\0"sv,
      "\0\0\0\0"sv,
      // Bytes >= 0x80 (UTF-8 and Latin-1).
      "Zm9\xc3\xa9"sv,
      "Zm9\xff"sv,
      "\xef\xbb\xbfZm9v"sv,
      // Non-zero trailing bits: 'h' = 100001 leaves 0001, '9' = 111101 leaves 01.
      "Zh"sv,
      "Zm9"sv,
      "_x"sv,
      "__9"sv,
      "AB"sv,
      "AAB"sv,
      "Zm9vYh"sv,
      "Zm9vYmF"sv,
      // Length 1 mod 4: six bits cannot make a byte.
      "Z"sv,
      "A"sv,
      "Zm9vY"sv,
      "Zm9vYmFyZ"sv,
      "AAAAA"sv,
  };
  for (std::string_view in : cases) {
    INFO("input hex: " << Hex(in));
    std::string out;
    CHECK_FALSE(Decode(in, &out));
  }
}

TEST_CASE("Base64UrlDecode rejects every non-zero trailing-bit variant of a final character",
          "[base64url]") {
  // For length 2 mod 4 the last character carries 2 data bits and 4 trailing bits; for length
  // 3 mod 4, 4 data bits and 2 trailing bits. Exactly the characters whose trailing bits are zero
  // are accepted.
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    const char c = kAlphabet[i];
    std::string two = std::string("A") + c;
    std::string three = std::string("AA") + c;
    std::string out;
    INFO("final character " << c << " (value " << i << ")");
    CHECK(Decode(two, &out) == ((i & 0x0f) == 0));
    CHECK(Decode(three, &out) == ((i & 0x03) == 0));
  }
}

TEST_CASE("Base64UrlDecode rejects any byte outside the alphabet at any position", "[base64url]") {
  // Every byte value that is not one of the 64 characters, placed at each position of a valid
  // 4- and 7-character encoding (so only the substituted byte can make it invalid).
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (kAlphabet.find(c) != std::string_view::npos) continue;
    for (std::string_view base : {"Zm9v"sv, "Zm9vYmE"sv}) {
      for (size_t pos = 0; pos < base.size(); ++pos) {
        std::string s(base);
        s[pos] = c;
        std::string out;
        INFO("byte " << b << " at position " << pos << " of " << base);
        CHECK_FALSE(Decode(s, &out));
      }
    }
  }
}

TEST_CASE("Base64UrlDecode rejects a byte outside the alphabet anywhere in a long input",
          "[base64url]") {
  // Long enough for the 32-character blocks (on a CPU with AVX2) and their scalar tail: every
  // position of each length, every byte value that is not one of the 64 characters.
  std::mt19937_64 rng(0x6c6f6e6762363475ULL);
  size_t checked = 0;
  for (size_t raw_len : {33u, 35u, 57u, 80u, 258u}) {
    std::string raw(raw_len, '\0');
    for (char& ch : raw) ch = static_cast<char>(rng() & 0xff);
    const std::string valid = Base64UrlEncode(raw);
    std::string out;
    REQUIRE(Decode(valid, &out));
    REQUIRE(out == raw);
    for (size_t pos = 0; pos < valid.size(); ++pos) {
      for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        if (kAlphabet.find(c) != std::string_view::npos) continue;
        std::string s = valid;
        s[pos] = c;
        if (Decode(s, &out)) {
          FAIL_CHECK("accepted byte " << b << " at " << pos << " of " << s.size());
        }
        ++checked;
      }
    }
  }
  CHECK(checked == 192 * (44 + 47 + 76 + 107 + 344));
}

TEST_CASE("Base64UrlEncode emits the canonical unpadded form", "[base64url]") {
  CHECK(Base64UrlEncode(""sv).empty());
  CHECK(Base64UrlEncode("f"sv) == "Zg");
  CHECK(Base64UrlEncode("fo"sv) == "Zm8");
  CHECK(Base64UrlEncode("foo"sv) == "Zm9v");
  CHECK(Base64UrlEncode("foobar"sv) == "Zm9vYmFy");
  CHECK(Base64UrlEncode("\xfb\xff\xbf"sv) == "-_-_");
  CHECK(Base64UrlEncode("\0"sv) == "AA");
  // The pointer form (whether it appends or replaces is not specified; start empty).
  const uint8_t bytes[] = {0xff, 0xee};
  std::string out;
  Base64UrlEncode(bytes, sizeof(bytes), &out);
  CHECK(out == "_-4");
}

TEST_CASE("Base64url round trips over every length and many byte patterns", "[base64url]") {
  std::mt19937_64 rng(0x6a77746761746531ULL);
  for (size_t len = 1; len <= 300; ++len) {
    for (int rep = 0; rep < 8; ++rep) {
      std::string raw(len, '\0');
      for (char& ch : raw) ch = static_cast<char>(rng() & 0xff);
      if (rep == 0) raw.assign(len, '\0');
      if (rep == 1) raw.assign(len, '\xff');
      const std::string enc = Base64UrlEncode(raw);
      INFO("len " << len << " rep " << rep);
      REQUIRE(enc.size() == Base64UrlEncodedSize(len));
      CHECK(enc.find_first_not_of(kAlphabet) == std::string::npos);
      std::string dec;
      REQUIRE(Decode(enc, &dec));
      CHECK(dec == raw);
      // And the other direction: a canonical encoding re-encodes to itself.
      CHECK(Base64UrlEncode(dec) == enc);
    }
  }
}

TEST_CASE("Base64UrlDecode agrees with libsodium on exhaustive short inputs", "[base64url]") {
  REQUIRE(sodium_init() >= 0);
  size_t disagreements = 0;
  // Every 1- and 2-byte string over the 128 ASCII values.
  for (int a = 0; a < 128; ++a) {
    const char s1[1] = {static_cast<char>(a)};
    if (!AgreesWithSodium(std::string_view(s1, 1))) ++disagreements;
    for (int b = 0; b < 128; ++b) {
      const char s2[2] = {static_cast<char>(a), static_cast<char>(b)};
      if (!AgreesWithSodium(std::string_view(s2, 2))) ++disagreements;
    }
  }
  // Every 3-character string over the alphabet plus '=', and every 4-character string of that
  // set that starts with 'Q'.
  const std::string ext = std::string(kAlphabet) + "=";
  for (char a : ext) {
    for (char b : ext) {
      for (char c : ext) {
        const char s3[3] = {a, b, c};
        if (!AgreesWithSodium(std::string_view(s3, 3))) ++disagreements;
        const char s4[4] = {'Q', a, b, c};
        if (!AgreesWithSodium(std::string_view(s4, 4))) ++disagreements;
      }
    }
  }
  CHECK(disagreements == 0);
}

TEST_CASE("Base64UrlDecode agrees with libsodium on random and mutated inputs", "[base64url]") {
  REQUIRE(sodium_init() >= 0);
  std::mt19937_64 rng(0x62363475726c3031ULL);
  // Mostly valid characters, with the characters that lenient decoders get wrong mixed in.
  const std::string noise = std::string(kAlphabet) + "=+/ \t\r\n.?#\0\x7f"s;
  auto pick = [&](std::string_view from) { return from[rng() % from.size()]; };

  size_t disagreements = 0;
  size_t accepted = 0;
  for (int i = 0; i < 100000 && disagreements < 20; ++i) {
    const size_t len = 1 + rng() % 48;
    std::string s(len, 'A');
    const bool clean = (rng() % 4) != 0;
    for (char& ch : s) ch = (clean && rng() % 16 != 0) ? pick(kAlphabet) : pick(noise);
    std::string out;
    if (!AgreesWithSodium(s)) ++disagreements;
    if (Decode(s, &out)) ++accepted;
  }

  // Mutations of valid encodings: one edit away from canonical.
  for (int i = 0; i < 60000 && disagreements < 20; ++i) {
    std::string raw(1 + rng() % 40, '\0');
    for (char& ch : raw) ch = static_cast<char>(rng() & 0xff);
    std::string s = Base64UrlEncode(raw);
    const size_t pos = rng() % s.size();
    switch (rng() % 7) {
      case 0:
        s[pos] = pick(noise);
        break;
      case 1:
        s[pos] = pick(kAlphabet);
        break;
      case 2:
        s.erase(pos, 1);
        break;
      case 3:
        s.insert(pos, 1, pick(noise));
        break;
      case 4:
        s += "=";
        break;
      case 5:
        s.back() = pick(kAlphabet);
        break;
      default:
        s += pick(kAlphabet);
        break;
    }
    if (s.empty()) continue;
    if (!AgreesWithSodium(s)) ++disagreements;
  }
  CHECK(disagreements == 0);
  // Sanity: the random phase exercised both outcomes.
  CHECK(accepted > 100);
}

}  // namespace
}  // namespace jwtgate::jose
