// StrictJsonParser: the I-JSON profile (RFC 7493) for JOSE headers, claims and JWKS.
#include "jose/strict_json.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jwtgate::jose {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

const char* Name(JsonError e) {
  switch (e) {
    case JsonError::kOk:
      return "kOk";
    case JsonError::kSyntax:
      return "kSyntax";
    case JsonError::kNotObject:
      return "kNotObject";
    case JsonError::kDuplicateMember:
      return "kDuplicateMember";
    case JsonError::kTooDeep:
      return "kTooDeep";
    case JsonError::kTooLarge:
      return "kTooLarge";
  }
  return "?";
}

// Parses `text` from padded storage with a fresh parser.
JsonError Parse(std::string_view text, size_t max_bytes = 4096, uint32_t max_depth = 16) {
  StrictJsonParser parser(max_bytes, max_depth);
  const simdjson::padded_string padded(text);
  simdjson::dom::object root;
  return parser.Parse(reinterpret_cast<const uint8_t*>(padded.data()), padded.size(), &root);
}

struct Case {
  std::string_view text;
  JsonError want;
};

void RunTable(const Case* begin, const Case* end) {
  for (const Case* c = begin; c != end; ++c) {
    const JsonError got = Parse(c->text);
    INFO("document: " << c->text);
    INFO("want " << Name(c->want) << ", got " << Name(got));
    CHECK(got == c->want);
  }
}

// {"a":{"a":...{}...}} with `depth` objects in total (the top-level object is depth 1).
std::string NestedObjects(size_t depth) {
  std::string s;
  for (size_t i = 1; i < depth; ++i) s += "{\"a\":";
  s += "{}";
  for (size_t i = 1; i < depth; ++i) s += "}";
  return s;
}

// The same with a member in the innermost object: {"a":{"a":...{"b":1}...}}. simdjson's own
// depth limit counts an empty innermost container differently from a non-empty one, so the
// boundary is tested with both.
std::string NestedObjectsWithValue(size_t depth) {
  std::string s;
  for (size_t i = 1; i < depth; ++i) s += "{\"a\":";
  s += "{\"b\":1}";
  for (size_t i = 1; i < depth; ++i) s += "}";
  return s;
}

// {"a":[[...[]...]]} with `depth` containers in total.
std::string NestedArrays(size_t depth) {
  std::string s = "{\"a\":";
  for (size_t i = 1; i < depth; ++i) s += "[";
  for (size_t i = 1; i < depth; ++i) s += "]";
  s += "}";
  if (depth == 1) s = "{}";
  return s;
}

TEST_CASE("StrictJsonParser accepts plain objects and exposes the root", "[strict_json]") {
  StrictJsonParser parser(4096, 16);
  const simdjson::padded_string doc(
      R"( {"alg":"HS256","n":42,"list":[1,"two",{"three":3}],"nested":{"x":null},"t":true} )"sv);
  simdjson::dom::object root;
  REQUIRE(parser.Parse(reinterpret_cast<const uint8_t*>(doc.data()), doc.size(), &root) ==
          JsonError::kOk);
  std::string_view alg;
  REQUIRE(root["alg"].get(alg) == simdjson::SUCCESS);
  CHECK(alg == "HS256");
  int64_t n = 0;
  REQUIRE(root["n"].get(n) == simdjson::SUCCESS);
  CHECK(n == 42);
  CHECK(root.size() == 5);

  const Case ok[] = {
      {"{}"sv, JsonError::kOk},
      {" \t\r\n{ } \n"sv, JsonError::kOk},
      {R"({"a":1,"b":2,"A":3})"sv, JsonError::kOk},                // names are case-sensitive
      {R"({"a":{"b":1},"b":{"a":1}})"sv, JsonError::kOk},          // same name in different objects
      {R"({"a":[{"x":1},{"x":1}]})"sv, JsonError::kOk},            // same name in sibling objects
      {R"({"a":"\u00e9\ud83d\ude00 \u20ac"})"sv, JsonError::kOk},  // escapes, surrogate pair
      {"{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"sv, JsonError::kOk},  // raw UTF-8
      {R"({"a\u0000":1,"a":2})"sv, JsonError::kOk},  // different names once unescaped
      {R"({"a":1.5e3,"b":-0,"c":-0.0,"d":9007199254740993})"sv, JsonError::kOk},
  };
  RunTable(std::begin(ok), std::end(ok));
}

TEST_CASE("StrictJsonParser rejects duplicate member names after unescaping", "[strict_json]") {
  const Case cases[] = {
      {R"({"alg":"HS256","alg":"HS256"})"sv, JsonError::kDuplicateMember},
      {R"({"alg":"RS256","alg":"none"})"sv, JsonError::kDuplicateMember},
      {R"({"alg":"HS256","\u0061lg":"none"})"sv, JsonError::kDuplicateMember},
      {R"({"\u0061lg":"none","alg":"HS256"})"sv, JsonError::kDuplicateMember},
      {R"({"\u0061\u006c\u0067":1,"\u0061lg":2})"sv, JsonError::kDuplicateMember},
      {R"({"\/":1,"/":2})"sv, JsonError::kDuplicateMember},
      {"{\"\\u00e9\":1,\"\xc3\xa9\":2}"sv, JsonError::kDuplicateMember},
      {"{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"sv, JsonError::kDuplicateMember},
      {R"({"":1,"":2})"sv, JsonError::kDuplicateMember},
      {R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"a":9})"sv, JsonError::kDuplicateMember},
      // At any depth: nested objects and objects inside arrays.
      {R"({"x":{"a":1,"a":2}})"sv, JsonError::kDuplicateMember},
      {R"({"x":{"y":{"z":{"k":1,"\u006b":2}}}})"sv, JsonError::kDuplicateMember},
      {R"({"x":[1,{"a":1,"a":2}]})"sv, JsonError::kDuplicateMember},
      {R"({"x":[[[{"a":{"b":0,"b":0}}]]]})"sv, JsonError::kDuplicateMember},
  };
  RunTable(std::begin(cases), std::end(cases));
}

TEST_CASE("HasNoDuplicateMembers inspects every object of a tree", "[strict_json]") {
  simdjson::dom::parser plain;
  auto check = [&](std::string_view text, bool want) {
    const simdjson::padded_string doc(text);
    simdjson::dom::element e;
    REQUIRE(plain.parse(doc).get(e) == simdjson::SUCCESS);
    INFO("document: " << text);
    CHECK(HasNoDuplicateMembers(e) == want);
  };
  check(R"({"a":1,"b":2})", true);
  check(R"([{"a":1},{"a":1}])", true);
  check(R"({"a":1,"a":1})", false);
  check(R"({"a":1,"\u0061":1})", false);
  check(R"([1,2,{"x":[{"y":1,"y":2}]}])", false);
  check(R"("scalar")", true);
}

TEST_CASE("StrictJsonParser rejects invalid UTF-8 and lone surrogates", "[strict_json]") {
  const Case cases[] = {
      {"{\"a\":\"\xff\"}"sv, JsonError::kSyntax},
      {"{\"a\":\"\xc0\xaf\"}"sv, JsonError::kSyntax},          // overlong '/'
      {"{\"a\":\"\xe0\x80\xaf\"}"sv, JsonError::kSyntax},      // overlong, 3 bytes
      {"{\"a\":\"\xe2\x82\"}"sv, JsonError::kSyntax},          // truncated sequence
      {"{\"a\":\"\x80\"}"sv, JsonError::kSyntax},              // lone continuation byte
      {"{\"a\":\"\xed\xa0\x80\"}"sv, JsonError::kSyntax},      // UTF-8-encoded surrogate
      {"{\"a\":\"\xf4\x90\x80\x80\"}"sv, JsonError::kSyntax},  // above U+10FFFF
      {"{\"\xff\":1}"sv, JsonError::kSyntax},                  // in a member name
      {"{\"a\":1}\xff"sv, JsonError::kSyntax},                 // after the document
      // Escaped lone surrogates (RFC 7493 §2.1).
      {R"({"a":"\ud800"})"sv, JsonError::kSyntax},
      {R"({"a":"\udc00"})"sv, JsonError::kSyntax},
      {R"({"a":"\udbff"})"sv, JsonError::kSyntax},
      {R"({"a":"\ud800\u0041"})"sv, JsonError::kSyntax},
      {R"({"a":"\ud800\ud800"})"sv, JsonError::kSyntax},
      {R"({"a":"\ude00\ud83d"})"sv, JsonError::kSyntax},  // pair in the wrong order
      {R"({"a":"x\ud800y"})"sv, JsonError::kSyntax},
      {R"({"\ud800":1})"sv, JsonError::kSyntax},
      // Invalid escapes.
      {R"({"a":"\x41"})"sv, JsonError::kSyntax},
      {R"({"a":"\u00g1"})"sv, JsonError::kSyntax},
      {R"({"a":"\'"})"sv, JsonError::kSyntax},
      // A raw control character inside a string.
      {"{\"a\":\"x\x01y\"}"sv, JsonError::kSyntax},
      {"{\"a\":\"x\ny\"}"sv, JsonError::kSyntax},
  };
  RunTable(std::begin(cases), std::end(cases));
}

TEST_CASE("StrictJsonParser rejects a byte order mark", "[strict_json]") {
  const Case cases[] = {
      {"\xef\xbb\xbf{}"sv, JsonError::kSyntax},
      {"\xef\xbb\xbf{\"alg\":\"HS256\"}"sv, JsonError::kSyntax},
      {" \xef\xbb\xbf{}"sv, JsonError::kSyntax},
      {"{}\xef\xbb\xbf"sv, JsonError::kSyntax},
  };
  RunTable(std::begin(cases), std::end(cases));
}

TEST_CASE("StrictJsonParser enforces the depth cap exactly", "[strict_json]") {
  // The top-level object is depth 1; a cap of 16 admits 16 nested containers, not 17.
  for (size_t depth : {size_t{1}, size_t{2}, size_t{15}, size_t{16}}) {
    INFO("depth " << depth);
    CHECK(Parse(NestedObjects(depth), 1 << 20, 16) == JsonError::kOk);
    CHECK(Parse(NestedObjectsWithValue(depth), 1 << 20, 16) == JsonError::kOk);
    CHECK(Parse(NestedArrays(depth), 1 << 20, 16) == JsonError::kOk);
  }
  for (size_t depth :
       {size_t{17}, size_t{18}, size_t{32}, size_t{33}, size_t{1000}, size_t{100000}}) {
    INFO("depth " << depth);
    CHECK(Parse(NestedObjects(depth), 1 << 20, 16) == JsonError::kTooDeep);
    CHECK(Parse(NestedObjectsWithValue(depth), 1 << 20, 16) == JsonError::kTooDeep);
    CHECK(Parse(NestedArrays(depth), 1 << 20, 16) == JsonError::kTooDeep);
  }
  // Other caps, including the smallest.
  CHECK(Parse("{}", 4096, 1) == JsonError::kOk);
  CHECK(Parse(R"({"a":1,"b":"x"})", 4096, 1) == JsonError::kOk);
  CHECK(Parse(R"({"a":{}})", 4096, 1) == JsonError::kTooDeep);
  CHECK(Parse(R"({"a":[]})", 4096, 1) == JsonError::kTooDeep);
  CHECK(Parse(R"({"a":[1]})", 4096, 1) == JsonError::kTooDeep);
  CHECK(Parse(R"({"a":{"b":1}})", 4096, 2) == JsonError::kOk);
  CHECK(Parse(R"({"a":{"b":{}}})", 4096, 2) == JsonError::kTooDeep);
  CHECK(Parse(NestedObjects(32), 1 << 20, 32) == JsonError::kOk);
  CHECK(Parse(NestedObjects(33), 1 << 20, 32) == JsonError::kTooDeep);
  // Deep but unbalanced input is rejected (syntax or depth), never crashes.
  CHECK(Parse(std::string(100000, '['), 1 << 20, 16) != JsonError::kOk);
  CHECK(Parse("{\"a\":" + std::string(100000, '['), 1 << 20, 16) != JsonError::kOk);
}

TEST_CASE("StrictJsonParser requires an object at the top level", "[strict_json]") {
  const Case cases[] = {
      {"[]"sv, JsonError::kNotObject},
      {"[{}]"sv, JsonError::kNotObject},
      {R"(["alg","HS256"])"sv, JsonError::kNotObject},
      {"1"sv, JsonError::kNotObject},
      {"-0.5"sv, JsonError::kNotObject},
      {R"("{\"alg\":\"none\"}")"sv, JsonError::kNotObject},
      {"null"sv, JsonError::kNotObject},
      {"true"sv, JsonError::kNotObject},
      {"false"sv, JsonError::kNotObject},
      // Not JSON at all.
      {""sv, JsonError::kSyntax},
      {"   "sv, JsonError::kSyntax},
      {"{"sv, JsonError::kSyntax},
      {"}"sv, JsonError::kSyntax},
      {"Example of Ed25519 signing"sv, JsonError::kSyntax},
      {"Payload"sv, JsonError::kSyntax},
  };
  RunTable(std::begin(cases), std::end(cases));
}

TEST_CASE("StrictJsonParser rejects JSON extensions", "[strict_json]") {
  const Case cases[] = {
      // Trailing commas.
      {R"({"a":1,})"sv, JsonError::kSyntax},
      {R"({"a":[1,2,]})"sv, JsonError::kSyntax},
      {R"({,})"sv, JsonError::kSyntax},
      {R"({"a":1,,"b":2})"sv, JsonError::kSyntax},
      // Comments.
      {R"({"a":1 /* c */})"sv, JsonError::kSyntax},
      {R"({/* c */"a":1})"sv, JsonError::kSyntax},
      {"{\"a\":1} // c"sv, JsonError::kSyntax},
      {"{\"a\":1 # c\n}"sv, JsonError::kSyntax},
      // Non-finite and non-JSON numbers.
      {R"({"a":NaN})"sv, JsonError::kSyntax},
      {R"({"a":Infinity})"sv, JsonError::kSyntax},
      {R"({"a":-Infinity})"sv, JsonError::kSyntax},
      {R"({"a":1e400})"sv, JsonError::kSyntax},  // overflows a double (RFC 7493 §2.2)
      {R"({"a":-1e400})"sv, JsonError::kSyntax},
      {R"({"a":0x10})"sv, JsonError::kSyntax},
      {R"({"a":01})"sv, JsonError::kSyntax},
      {R"({"a":+1})"sv, JsonError::kSyntax},
      {R"({"a":.5})"sv, JsonError::kSyntax},
      {R"({"a":1.})"sv, JsonError::kSyntax},
      {R"({"a":1e})"sv, JsonError::kSyntax},
      // Other leniencies.
      {R"({'a':1})"sv, JsonError::kSyntax},
      {R"({a:1})"sv, JsonError::kSyntax},
      {R"({"a":'x'})"sv, JsonError::kSyntax},
      {R"({"a":undefined})"sv, JsonError::kSyntax},
      {R"({"a":True})"sv, JsonError::kSyntax},
      {R"({"a" 1})"sv, JsonError::kSyntax},
      {R"({"a":1 "b":2})"sv, JsonError::kSyntax},
      // Trailing content and concatenated documents.
      {"{} x"sv, JsonError::kSyntax},
      {"{}{}"sv, JsonError::kSyntax},
      {"{}\0"sv, JsonError::kSyntax},
      {"{\"a\":1}}"sv, JsonError::kSyntax},
  };
  RunTable(std::begin(cases), std::end(cases));
}

TEST_CASE("StrictJsonParser enforces the size cap", "[strict_json]") {
  // {"a":"xxx...x"} of exactly `n` bytes.
  auto doc_of = [](size_t n) { return "{\"a\":\"" + std::string(n - 8, 'x') + "\"}"; };
  REQUIRE(doc_of(100).size() == 100);
  CHECK(Parse(doc_of(99), 100, 16) == JsonError::kOk);
  CHECK(Parse(doc_of(100), 100, 16) == JsonError::kOk);
  CHECK(Parse(doc_of(101), 100, 16) == JsonError::kTooLarge);
  CHECK(Parse(doc_of(1 << 16), 100, 16) == JsonError::kTooLarge);
  // The size cap is checked before parsing: an oversized document is too large whatever it is.
  CHECK(Parse(std::string(101, '['), 100, 16) == JsonError::kTooLarge);
  CHECK(Parse(std::string(200, 'x'), 100, 16) == JsonError::kTooLarge);
}

TEST_CASE("StrictJsonParser is reusable after any outcome", "[strict_json]") {
  StrictJsonParser parser(1024, 8);
  auto parse = [&](std::string_view text, simdjson::dom::object* root) {
    const simdjson::padded_string doc(text);
    return parser.Parse(reinterpret_cast<const uint8_t*>(doc.data()), doc.size(), root);
  };
  simdjson::dom::object root;
  CHECK(parse(R"({"a":1,"a":2})", &root) == JsonError::kDuplicateMember);
  CHECK(parse(NestedObjects(9), &root) == JsonError::kTooDeep);
  CHECK(parse("{\"a\":\"\xff\"}", &root) == JsonError::kSyntax);
  CHECK(parse("[]", &root) == JsonError::kNotObject);
  CHECK(parse(std::string(2000, ' '), &root) == JsonError::kTooLarge);
  // The padded document must outlive the use of `root`.
  const simdjson::padded_string doc(R"({"kid":"k1","alg":"ES256"})"sv);
  REQUIRE(parser.Parse(reinterpret_cast<const uint8_t*>(doc.data()), doc.size(), &root) ==
          JsonError::kOk);
  std::string_view kid;
  REQUIRE(root["kid"].get(kid) == simdjson::SUCCESS);
  CHECK(kid == "k1");
}

}  // namespace
}  // namespace jwtgate::jose
