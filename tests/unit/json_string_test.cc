// JsonString: a JSON string literal that a strict parser reads back as the same bytes.
#include "base/json_string.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

namespace jwtgate::base {
namespace {

using namespace std::string_view_literals;

TEST_CASE("JsonString escapes what RFC 8259 requires and nothing else", "[json_string]") {
  struct Row {
    std::string_view in;
    std::string_view out;
  };
  const Row rows[] = {
      {"", R"("")"},
      {"kid-1", R"("kid-1")"},
      {R"(say "hi")", R"("say \"hi\"")"},
      {R"(C:\keys)", R"("C:\\keys")"},
      {"a\nb\tc\x1f", R"("a\u000ab\u0009c\u001f")"},
      {"\0"sv, R"("\u0000")"},
      {"/ and \x7f stay", "\"/ and \x7f stay\""},
      {"caf\xc3\xa9", "\"caf\xc3\xa9\""},  // UTF-8 is copied as it is
  };
  for (const Row& r : rows) {
    INFO(r.in);
    CHECK(JsonString(r.in) == r.out);
  }
}

TEST_CASE("AppendJsonString appends, and ascii_only escapes every non-ASCII byte", "[json_string]") {
  std::string out = "x:";
  AppendJsonString("a\"\n\xc3\xa9", &out);
  CHECK(out == "x:\"a\\\"\\u000a\xc3\xa9\"");
  out.clear();
  AppendJsonString("G\xff\x7f", &out, /*ascii_only=*/true);
  CHECK(out == "\"G\\u00ff\x7f\"");  // DEL needs no escape in JSON
}

TEST_CASE("JsonString reads back as the same bytes", "[json_string]") {
  std::string all;
  for (int c = 1; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  simdjson::dom::parser parser;
  const simdjson::padded_string json(JsonString(all));
  std::string_view back;
  REQUIRE(parser.parse(json).get(back) == simdjson::SUCCESS);
  CHECK(back == all);
}

}  // namespace
}  // namespace jwtgate::base
