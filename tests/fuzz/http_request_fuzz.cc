// Fuzz target: bytes from a client, through the daemon's HTTP/1.1 request-head parser.
//
// Oracles: no crash or out-of-bounds read (the input is an exactly sized heap copy); a
// complete parse satisfies the parser's contract (views inside the buffer, path + query make
// up the target, at most max_headers headers, HTTP/1.1 with exactly one Host, no
// Transfer-Encoding, Content-Length within the limit); and the head arriving in pieces (the
// incremental path with its saved state) gives the same verdict as the whole buffer at once
// (the same head, or the same refusal, up to a size limit that the incremental path may
// enforce first).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "net/http_parser.h"

namespace jwtgate::fuzz {
namespace {

using net::HttpError;
using net::HttpHeader;
using net::HttpLimits;
using net::HttpParseState;
using net::HttpRequest;
using net::ParseStatus;

bool Inside(std::string_view buf, std::string_view v) {
  if (v.empty()) return true;
  return v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size();
}

void CheckComplete(std::string_view buf, const HttpLimits& limits, const HttpRequest& req) {
  if (req.head_bytes == 0 || req.head_bytes > buf.size()) Fail("head_bytes out of range");
  const std::string_view head = buf.substr(0, req.head_bytes);
  if (!head.ends_with("\r\n\r\n")) Fail("a complete head does not end with an empty line");
  if (!Inside(head, req.method) || !Inside(head, req.target) || !Inside(head, req.path) ||
      !Inside(head, req.query)) {
    Fail("a request-line view points outside the head");
  }
  if (req.method.empty() || req.target.empty()) Fail("empty method or target");
  if (req.path.size() > req.target.size() || req.target.substr(0, req.path.size()) != req.path) {
    Fail("path is not a prefix of the target");
  }
  if (req.path.size() < req.target.size() &&
      req.target.substr(req.path.size()) != "?" + std::string(req.query)) {
    Fail("query is not what follows '?' in the target");
  }
  if (req.version_minor != 0 && req.version_minor != 1) Fail("version other than 1.0/1.1");
  if (req.header_count > limits.max_headers) Fail("more headers than max_headers");
  for (size_t i = 0; i < req.header_count; ++i) {
    const HttpHeader& h = req.headers[i];
    if (!Inside(head, h.name) || !Inside(head, h.value)) Fail("a header view is outside");
    if (h.name.empty()) Fail("a header with an empty name");
    for (char c : h.value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) Fail("a control character in a header value");
    }
    if (!h.value.empty() && (h.value.front() == ' ' || h.value.front() == '\t' ||
                             h.value.back() == ' ' || h.value.back() == '\t')) {
      Fail("a header value keeps surrounding whitespace");
    }
  }
  size_t hosts = 0;
  req.Find("host", &hosts);
  if (req.version_minor == 1 && hosts != 1) Fail("HTTP/1.1 without exactly one Host");
  if (req.Find("transfer-encoding") != nullptr) Fail("Transfer-Encoding accepted");
  if (req.has_content_length && req.content_length > limits.max_body_bytes) {
    Fail("Content-Length above the limit accepted");
  }
}

struct Verdict {
  ParseStatus status;
  HttpError error;
  size_t head_bytes;
  size_t header_count;
  std::string_view method, target;
};

Verdict ParseWhole(std::string_view buf, const HttpLimits& limits,
                   std::vector<HttpHeader>* headers) {
  HttpParseState state;
  HttpRequest req;
  HttpError error = HttpError::kNone;
  const ParseStatus s =
      net::ParseHttpRequest(buf, limits, &state, headers->data(), &req, &error);
  if (s == ParseStatus::kComplete) CheckComplete(buf, limits, req);
  if (s == ParseStatus::kError && error == HttpError::kNone) Fail("kError without a reason");
  if (s != ParseStatus::kError && error != HttpError::kNone) Fail("a reason without kError");
  return {s, error, req.head_bytes, req.header_count, req.method, req.target};
}

// Feeds growing prefixes (cut every `step` bytes) to one parse state, as a connection does.
Verdict ParseInPieces(std::string_view buf, size_t step, const HttpLimits& limits,
                      std::vector<HttpHeader>* headers) {
  HttpParseState state;
  HttpRequest req;
  HttpError error = HttpError::kNone;
  ParseStatus s = ParseStatus::kIncomplete;
  for (size_t end = step < buf.size() ? step : buf.size();; end += step) {
    if (end > buf.size()) end = buf.size();
    s = net::ParseHttpRequest(buf.substr(0, end), limits, &state, headers->data(), &req, &error);
    if (s != ParseStatus::kIncomplete || end == buf.size()) break;
  }
  return {s, error, req.head_bytes, req.header_count, req.method, req.target};
}

void Run(std::string_view buf, const HttpLimits& limits, size_t step) {
  std::vector<HttpHeader> headers(limits.max_headers);
  const Verdict whole = ParseWhole(buf, limits, &headers);
  std::vector<HttpHeader> headers2(limits.max_headers);
  const Verdict pieces = ParseInPieces(buf, step, limits, &headers2);
  // While a head is still arriving the parser enforces the size limits on what it would have
  // to buffer, before it has seen the rest of the line: a request refused for a bad byte
  // further on may then be refused for its size instead. Any other difference is a finding.
  const bool limit_first = pieces.error == HttpError::kRequestLineTooLong ||
                           pieces.error == HttpError::kHeadTooLarge;
  if (whole.status != pieces.status ||
      (whole.error != pieces.error && !(whole.status == ParseStatus::kError && limit_first))) {
    const std::string detail =
        "whole: status " + std::to_string(static_cast<int>(whole.status)) + " " +
        std::string(net::HttpErrorName(whole.error)) + ", in pieces of " + std::to_string(step) +
        ": status " + std::to_string(static_cast<int>(pieces.status)) + " " +
        std::string(net::HttpErrorName(pieces.error));
    Fail("incremental and whole-buffer parses disagree", detail);
  }
  if (whole.status == ParseStatus::kComplete &&
      (whole.head_bytes != pieces.head_bytes || whole.header_count != pieces.header_count ||
       whole.method != pieces.method || whole.target != pieces.target)) {
    Fail("incremental and whole-buffer parses describe different heads");
  }
}

}  // namespace
}  // namespace jwtgate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jwtgate::fuzz;
  if (size < 1) return 0;
  // The first byte picks the piece size of the incremental parse (1..32 bytes) and the limits.
  // A long input is cut into at most about 128 pieces, to keep each run short.
  const std::string buf(AsText(data + 1, size - 1));  // own copy: exact bounds for ASan
  const size_t step = std::max<size_t>((data[0] & 31u) + 1, buf.size() / 128);
  jwtgate::net::HttpLimits limits;
  if ((data[0] & 0x80u) != 0) {
    limits.max_request_line = 64;
    limits.max_head_bytes = 256;
    limits.max_headers = 4;
    limits.max_body_bytes = 100;
  }
  Run(buf, limits, step);
  return 0;
}
