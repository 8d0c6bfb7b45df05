// The daemon's HTTP/1.1 request parser (net/http_parser.h) and the auth endpoint's field rules
// (net/http_fields.h): strictness, limits, incremental parsing, bearer extraction and header
// value encoding.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "net/http_fields.h"
#include "net/http_parser.h"

namespace {

using jwtgate::net::BearerResult;
using jwtgate::net::HttpError;
using jwtgate::net::HttpHeader;
using jwtgate::net::HttpLimits;
using jwtgate::net::HttpParseState;
using jwtgate::net::HttpRequest;
using jwtgate::net::ParseHttpRequest;
using jwtgate::net::ParseStatus;

struct Parsed {
  ParseStatus status;
  HttpError error = HttpError::kNone;
  HttpRequest req;
  std::vector<HttpHeader> headers;
};

Parsed Parse(std::string_view text, HttpLimits limits = {}) {
  Parsed p;
  p.headers.resize(limits.max_headers + 1);
  HttpParseState st;
  p.status = ParseHttpRequest(text, limits, &st, p.headers.data(), &p.req, &p.error);
  return p;
}

HttpLimits WithBody(size_t n) {
  HttpLimits l;
  l.max_body_bytes = n;
  return l;
}

}  // namespace

TEST_CASE("http parser: a typical auth_request subrequest", "[http_parser]") {
  const std::string text =
      "GET /auth HTTP/1.1\r\n"
      "Host: 127.0.0.1:9090\r\n"
      "Authorization: Bearer abc.def.ghi\r\n"
      "X-Original-URI: /api/x?y=1\r\n"
      "Connection: keep-alive\r\n"
      "\r\n";
  const Parsed p = Parse(text);
  REQUIRE(p.status == ParseStatus::kComplete);
  CHECK(p.req.method == "GET");
  CHECK(p.req.path == "/auth");
  CHECK(p.req.query.empty());
  CHECK(p.req.version_minor == 1);
  CHECK(p.req.keep_alive);
  CHECK(p.req.head_bytes == text.size());
  CHECK(p.req.header_count == 4);
  const HttpHeader* a = p.req.Find("AUTHORIZATION");
  REQUIRE(a != nullptr);
  CHECK(a->value == "Bearer abc.def.ghi");
  CHECK(p.req.Find("x-original-uri")->value == "/api/x?y=1");
}

TEST_CASE("http parser: target, query, versions and keep-alive defaults", "[http_parser]") {
  Parsed p = Parse("POST /auth/api/v1?x=1&y HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(p.status == ParseStatus::kComplete);
  CHECK(p.req.path == "/auth/api/v1");
  CHECK(p.req.query == "x=1&y");
  CHECK(p.req.has_content_length);

  p = Parse("GET / HTTP/1.0\r\n\r\n");  // HTTP/1.0 needs no Host and closes by default
  REQUIRE(p.status == ParseStatus::kComplete);
  CHECK_FALSE(p.req.keep_alive);

  p = Parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(p.status == ParseStatus::kComplete);
  CHECK(p.req.keep_alive);

  p = Parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n");
  REQUIRE(p.status == ParseStatus::kComplete);
  CHECK_FALSE(p.req.keep_alive);

  p = Parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(p.status == ParseStatus::kComplete);

  // Empty lines before the request line are skipped (RFC 9112 §2.2).
  p = Parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(p.status == ParseStatus::kComplete);
  CHECK(p.req.head_bytes == 4 + 27);
}

TEST_CASE("http parser: header values are trimmed, empty values kept", "[http_parser]") {
  const Parsed p = Parse("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v w \t\r\nX-B:\r\n\r\n");
  REQUIRE(p.status == ParseStatus::kComplete);
  CHECK(p.req.Find("x-a")->value == "v w");
  CHECK(p.req.Find("x-b")->value.empty());
  CHECK(p.req.Find("host")->value == "a");
}

TEST_CASE("http parser: malformed requests are refused with the right error", "[http_parser]") {
  struct Case {
    const char* name;
    std::string text;
    HttpError error;
  };
  const std::vector<Case> cases = {
      {"bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", HttpError::kBadRequest},
      {"bare LF after CRLF request line", "GET / HTTP/1.1\r\nHost: a\n\r\n", HttpError::kBadRequest},
      {"bare CR inside a value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HttpError::kBadRequest},
      {"NUL in a value", std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 29), HttpError::kBadRequest},
      {"DEL in a value", "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", HttpError::kBadRequest},
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", HttpError::kBadRequest},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  b\r\n\r\n", HttpError::kBadRequest},
      {"no colon", "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", HttpError::kBadRequest},
      {"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", HttpError::kBadRequest},
      {"bad name char", "GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n", HttpError::kBadRequest},
      {"two spaces after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HttpError::kBadRequest},
      {"missing version", "GET /\r\nHost: a\r\n\r\n", HttpError::kBadRequest},
      {"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", HttpError::kBadRequest},
      {"absolute-form target", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", HttpError::kBadRequest},
      {"asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", HttpError::kBadRequest},
      {"control char in target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", HttpError::kBadRequest},
      {"non-ASCII target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", HttpError::kBadRequest},
      {"bad method char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", HttpError::kBadRequest},
      {"TLS record", "\x16\x03\x01\x02\x00\x01\x00\x01", HttpError::kBadRequest},
      {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", HttpError::kBadRequest},
      {"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HttpError::kBadRequest},
      {"two Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", HttpError::kBadRequest},
      {"signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", HttpError::kBadRequest},
      {"list Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", HttpError::kBadRequest},
      {"huge Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", HttpError::kBadRequest},
      {"Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", HttpError::kNotImplemented},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HttpError::kBadRequest},
      {"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", HttpError::kVersionNotSupported},
      {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", HttpError::kVersionNotSupported},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const Parsed p = Parse(c.text);
    CHECK(p.status == ParseStatus::kError);
    CHECK(p.error == c.error);
  }
}

TEST_CASE("http parser: limits", "[http_parser]") {
  HttpLimits l;
  l.max_request_line = 64;
  l.max_head_bytes = 256;
  l.max_headers = 4;
  l.max_body_bytes = 10;

  const std::string long_target(100, 'a');
  Parsed p = Parse("GET /" + long_target + " HTTP/1.1\r\nHost: a\r\n\r\n", l);
  CHECK(p.status == ParseStatus::kError);
  CHECK(p.error == HttpError::kRequestLineTooLong);
  // Refused before the line ends: the parser does not wait for a CRLF that never comes.
  p = Parse("GET /" + long_target, l);
  CHECK(p.status == ParseStatus::kError);
  CHECK(p.error == HttpError::kRequestLineTooLong);

  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 4; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  p = Parse(many + "\r\n", l);
  CHECK(p.status == ParseStatus::kError);
  CHECK(p.error == HttpError::kTooManyHeaders);
  p = Parse(many, l);  // noticed while the head is still arriving
  CHECK(p.status == ParseStatus::kError);
  CHECK(p.error == HttpError::kTooManyHeaders);

  const std::string big_value(300, 'v');
  p = Parse("GET / HTTP/1.1\r\nHost: a\r\nX: " + big_value + "\r\n\r\n", l);
  CHECK(p.status == ParseStatus::kError);
  CHECK(p.error == HttpError::kHeadTooLarge);
  p = Parse("GET / HTTP/1.1\r\nHost: a\r\nX: " + big_value, l);
  CHECK(p.status == ParseStatus::kError);
  CHECK(p.error == HttpError::kHeadTooLarge);

  p = Parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", l);
  CHECK(p.status == ParseStatus::kError);
  CHECK(p.error == HttpError::kBodyTooLarge);
  p = Parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", l);
  CHECK(p.status == ParseStatus::kComplete);
  CHECK(p.req.content_length == 10);

  // Exactly at the limits is fine.
  l.max_headers = 5;
  p = Parse(many + "\r\n", l);
  CHECK(p.status == ParseStatus::kComplete);
}

TEST_CASE("http parser: byte-by-byte arrival gives the same result", "[http_parser]") {
  const std::string text =
      "GET /auth HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t.t.t\r\nX-Empty:\r\n\r\n";
  HttpLimits limits;
  std::vector<HttpHeader> headers(limits.max_headers + 1);
  HttpParseState st;
  HttpRequest req;
  HttpError err;
  for (size_t n = 1; n < text.size(); ++n) {
    INFO("prefix " << n);
    REQUIRE(ParseHttpRequest(std::string_view(text).substr(0, n), limits, &st, headers.data(),
                             &req, &err) == ParseStatus::kIncomplete);
  }
  REQUIRE(ParseHttpRequest(text, limits, &st, headers.data(), &req, &err) == ParseStatus::kComplete);
  CHECK(req.head_bytes == text.size());
  CHECK(req.Find("authorization")->value == "Bearer t.t.t");
}

TEST_CASE("http parser: pipelined requests parse one after another", "[http_parser]") {
  const std::string one = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string two = "HEAD /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz";
  const std::string three = "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string all = one + two + three;
  HttpLimits limits = WithBody(16);
  std::vector<HttpHeader> headers(limits.max_headers + 1);
  HttpRequest req;
  HttpError err;
  size_t off = 0;
  std::vector<std::string> paths;
  while (off < all.size()) {
    HttpParseState st;
    REQUIRE(ParseHttpRequest(std::string_view(all).substr(off), limits, &st, headers.data(), &req,
                             &err) == ParseStatus::kComplete);
    paths.emplace_back(req.path);
    off += req.head_bytes + req.content_length;
  }
  CHECK(paths == std::vector<std::string>{"/a", "/b", "/c"});
  CHECK_FALSE(req.keep_alive);
}

TEST_CASE("http fields: bearer extraction", "[http_parser]") {
  struct Case {
    const char* name;
    std::string headers;
    BearerResult result;
    std::string token;
  };
  const std::vector<Case> cases = {
      {"canonical", "Authorization: Bearer abc.DEF-_.x~+/==\r\n", BearerResult::kOk, "abc.DEF-_.x~+/=="},
      {"lower-case scheme", "Authorization: bearer a.b.c\r\n", BearerResult::kOk, "a.b.c"},
      {"upper-case scheme", "AUTHORIZATION: BEARER a.b.c\r\n", BearerResult::kOk, "a.b.c"},
      {"several spaces", "Authorization: Bearer    a.b.c\r\n", BearerResult::kOk, "a.b.c"},
      {"no header", "X-Other: 1\r\n", BearerResult::kMissing, ""},
      {"basic scheme", "Authorization: Basic dXNlcjpwYXNz\r\n", BearerResult::kMissing, ""},
      {"scheme prefix only", "Authorization: Bearerx a.b.c\r\n", BearerResult::kMissing, ""},
      {"two headers", "Authorization: Bearer a.b.c\r\nAuthorization: Bearer d.e.f\r\n", BearerResult::kDuplicate, ""},
      {"two headers, other scheme", "Authorization: Basic x\r\nAuthorization: Bearer a.b.c\r\n", BearerResult::kDuplicate, ""},
      {"scheme only", "Authorization: Bearer\r\n", BearerResult::kMalformed, ""},
      {"two credentials", "Authorization: Bearer a.b.c d.e.f\r\n", BearerResult::kMalformed, ""},
      {"comma list", "Authorization: Bearer a.b.c,d\r\n", BearerResult::kMalformed, ""},
      {"padding in the middle", "Authorization: Bearer a=b\r\n", BearerResult::kMalformed, ""},
      {"only padding", "Authorization: Bearer ==\r\n", BearerResult::kMalformed, ""},
      {"quote", "Authorization: Bearer \"a.b.c\"\r\n", BearerResult::kMalformed, ""},
      {"tab separator", "Authorization: Bearer\ta.b.c\r\n", BearerResult::kMissing, ""},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    // The request outlives the parse: HttpRequest holds views into it.
    const std::string text = "GET /auth HTTP/1.1\r\nHost: h\r\n" + c.headers + "\r\n";
    const Parsed p = Parse(text);
    REQUIRE(p.status == ParseStatus::kComplete);
    std::string_view token;
    CHECK(jwtgate::net::ExtractBearer(p.req, &token) == c.result);
    if (c.result == BearerResult::kOk) CHECK(token == c.token);
  }
}

TEST_CASE("http fields: header values cannot inject lines and decode unambiguously", "[http_parser]") {
  struct Case {
    std::string in;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"alice", "alice"},
      {"Alice Smith", "Alice Smith"},
      {"", ""},
      {"a\r\nX-Injected: 1", "a%0D%0AX-Injected: 1"},
      {"tab\there", "tab%09here"},
      {std::string("nul\0x", 5), "nul%00x"},
      {"del\x7f", "del%7F"},
      {"caf\xc3\xa9", "caf%C3%A9"},
      {"100%", "100%25"},
      {" padded ", "%20padded%20"},
      {"a%0D", "a%250D"},  // an encoded-looking value stays distinct from the raw byte
  };
  for (const Case& c : cases) {
    INFO(c.in);
    std::string out;
    REQUIRE(jwtgate::net::AppendHeaderValue(c.in, 1024, &out));
    CHECK(out == c.out);
    for (char ch : out) {
      CHECK(static_cast<unsigned char>(ch) >= 0x20);
      CHECK(static_cast<unsigned char>(ch) < 0x7f);
    }
  }
  std::string out = "x";
  CHECK_FALSE(jwtgate::net::AppendHeaderValue(std::string(10, '\n'), 29, &out));
  CHECK(out == "x");  // nothing appended when too long
  CHECK(jwtgate::net::AppendHeaderValue(std::string(10, '\n'), 30, &out));
  // A list separator inside one element: encoded like '%', so the list splits unambiguously.
  std::string list;
  CHECK(jwtgate::net::AppendHeaderValue("x,admin", 100, &list, ','));
  CHECK(list == "x%2Cadmin");
  list.clear();
  CHECK_FALSE(jwtgate::net::AppendHeaderValue("a,b", 4, &list, ','));  // 5 bytes encoded
  CHECK(list.empty());
}

TEST_CASE("http fields: field names", "[http_parser]") {
  CHECK(jwtgate::net::IsValidFieldName("X-Auth-Email"));
  CHECK_FALSE(jwtgate::net::IsValidFieldName(""));
  CHECK_FALSE(jwtgate::net::IsValidFieldName("X Auth"));
  CHECK_FALSE(jwtgate::net::IsValidFieldName("X-Auth:"));
  CHECK_FALSE(jwtgate::net::IsValidFieldName("X-\r\nY"));
}
