// A strict HTTP/1.1 request parser (RFC 9110, RFC 9112) for the daemon's listeners.
//
// It parses a request head in place: every string_view of an HttpRequest points into the
// caller's buffer, nothing is copied or allocated. It is strict where leniency is a known
// attack surface (request smuggling, header injection) and bounded everywhere:
//  - request line `method SP origin-form SP HTTP/1.x CRLF`, single spaces, CRLF line ends only
//    (a bare CR or LF is an error), no obs-fold, no whitespace before a header's colon;
//  - header values: HTAB, SP, VCHAR and obs-text only (no NUL or other control characters);
//  - Transfer-Encoding is refused (501): requests carry no body or a Content-Length body;
//  - Content-Length: digits only, at most once; HTTP/1.1 needs exactly one Host;
//  - limits on the request line, the whole head and the header count, checked while the head
//    is still arriving, so a client cannot make the server buffer more than max_head_bytes.
// Empty lines before a request line are skipped (RFC 9112 §2.2).
#ifndef JWTGATE_NET_HTTP_PARSER_H_
#define JWTGATE_NET_HTTP_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jwtgate::net {

struct HttpLimits {
  size_t max_request_line = 4096;  // bytes, without CRLF
  size_t max_head_bytes = 8192;    // request line + headers + the final empty line
  size_t max_headers = 64;
  size_t max_body_bytes = 0;  // Content-Length above this is refused (413)
};

struct HttpHeader {
  std::string_view name;   // as sent (compare case-insensitively)
  std::string_view value;  // without surrounding whitespace
};

// Why a request was refused; each maps to the status the server answers with.
enum class HttpError : uint8_t {
  kNone,
  kBadRequest,           // 400: syntax
  kRequestLineTooLong,   // 414
  kHeadTooLarge,         // 431: head over max_head_bytes
  kTooManyHeaders,       // 431
  kBodyTooLarge,         // 413
  kNotImplemented,       // 501: Transfer-Encoding
  kVersionNotSupported,  // 505: HTTP/2.0, HTTP/0.9, ...
};

inline constexpr int kHttpErrorCount = 8;

// The HTTP status code answered for `e` (0 for kNone).
int HttpErrorStatus(HttpError e) noexcept;
// A stable snake_case name for metrics ("bad_request", "head_too_large", ...).
std::string_view HttpErrorName(HttpError e) noexcept;

struct HttpRequest {
  std::string_view method;
  std::string_view target;  // as sent
  std::string_view path;    // target up to '?'
  std::string_view query;   // after '?', may be empty
  int version_minor = 1;    // HTTP/1.0 or HTTP/1.1
  const HttpHeader* headers = nullptr;
  size_t header_count = 0;
  bool keep_alive = true;
  bool has_content_length = false;
  size_t content_length = 0;
  size_t head_bytes =
      0;  // from the buffer's start to the end of the empty line (incl. skipped CRLFs)

  // The first header named `name` (ASCII case-insensitive), or null. `count` (optional)
  // receives how many headers have that name.
  const HttpHeader* Find(std::string_view name, size_t* count = nullptr) const noexcept;
};

enum class ParseStatus : uint8_t { kComplete, kIncomplete, kError };

// Incremental parse state of one connection: how far the buffer has already been scanned for
// the end of the head, so that a head arriving byte by byte is scanned once (O(n) total).
struct HttpParseState {
  size_t scanned = 0;     // bytes already looked at
  size_t line_start = 0;  // start of the line being scanned
  size_t lead = 0;        // empty lines skipped before the request line
  size_t lines = 0;       // complete lines of the head so far (request line included)
  void Reset() noexcept { *this = HttpParseState(); }
};

// Parses the request head at the start of `buf`.
//  kComplete: `*req` describes the head (req->head_bytes bytes of `buf`); the body, if any,
//             follows it and is the caller's to consume. `headers` (room for
//             limits.max_headers entries) holds the header views.
//  kIncomplete: more bytes are needed; call again with the same bytes plus more (and the same
//             `state`).
//  kError: `*error` says why; the connection must answer and close.
ParseStatus ParseHttpRequest(std::string_view buf, const HttpLimits& limits, HttpParseState* state,
                             HttpHeader* headers, HttpRequest* req, HttpError* error) noexcept;

// ASCII case-insensitive equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept;

}  // namespace jwtgate::net

#endif  // JWTGATE_NET_HTTP_PARSER_H_
