#include "net/http_parser.h"

#include <array>
#include <cstring>
#include <iterator>

namespace jwtgate::net {
namespace {

// RFC 9110 §5.6.2 tchar.
constexpr std::array<bool, 256> MakeTcharTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTchar = MakeTcharTable();

inline bool IsTchar(char c) noexcept { return kTchar[static_cast<unsigned char>(c)]; }

// field-vchar / obs-text / SP / HTAB (RFC 9110 §5.5).
inline bool IsFieldByte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// request-target bytes: visible ASCII (RFC 3986 characters and '%'); no space, no controls,
// no obs-text.
inline bool IsTargetByte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

inline char Lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view TrimOws(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseContentLength(std::string_view v, size_t* out) noexcept {
  if (v.empty() || v.size() > 18) return false;  // 18 digits cannot overflow size_t
  size_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  *out = n;
  return true;
}

// Applies the tokens of a Connection header ("close", "keep-alive") to `keep_alive`.
void ApplyConnection(std::string_view v, bool* keep_alive) noexcept {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    std::string_view tok = TrimOws(v.substr(0, comma));
    if (EqualsIgnoreCase(tok, "close")) {
      *keep_alive = false;
      return;  // close wins over anything else
    }
    if (EqualsIgnoreCase(tok, "keep-alive")) *keep_alive = true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// The status answered and the metrics name of each HttpError, indexed by it.
struct HttpErrorInfo {
  int status;
  std::string_view name;
};
constexpr HttpErrorInfo kHttpErrors[] = {
    {0, "none"},                     // kNone
    {400, "bad_request"},            // kBadRequest
    {414, "request_line_too_long"},  // kRequestLineTooLong
    {431, "head_too_large"},         // kHeadTooLarge
    {431, "too_many_headers"},       // kTooManyHeaders
    {413, "body_too_large"},         // kBodyTooLarge
    {501, "transfer_encoding"},      // kNotImplemented
    {505, "version_not_supported"},  // kVersionNotSupported
};
static_assert(std::size(kHttpErrors) == static_cast<size_t>(kHttpErrorCount) &&
              static_cast<int>(HttpError::kVersionNotSupported) + 1 == kHttpErrorCount);

ParseStatus Fail(HttpError e, HttpError* error) noexcept {
  *error = e;
  return ParseStatus::kError;
}

// Parses a complete head (without the leading empty lines, ending with the empty line's CRLF).
ParseStatus ParseHead(std::string_view head, const HttpLimits& limits, HttpHeader* headers,
                      HttpRequest* req, HttpError* error) noexcept {
  // Request line.
  const size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  if (line.size() > limits.max_request_line) return Fail(HttpError::kRequestLineTooLong, error);
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return Fail(HttpError::kBadRequest, error);
  const std::string_view method = line.substr(0, sp1);
  for (char c : method) {
    if (!IsTchar(c)) return Fail(HttpError::kBadRequest, error);
  }
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return Fail(HttpError::kBadRequest, error);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : target) {
    if (!IsTargetByte(c)) return Fail(HttpError::kBadRequest, error);
  }
  // origin-form, or "*" (OPTIONS). Absolute-form is for proxies; authority-form for CONNECT.
  if (!(target.front() == '/' || (target == "*" && method == "OPTIONS"))) {
    return Fail(HttpError::kBadRequest, error);
  }
  const std::string_view version = line.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Fail(HttpError::kBadRequest, error);
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return Fail(HttpError::kVersionNotSupported, error);
  }
  req->method = method;
  req->target = target;
  const size_t q = target.find('?');
  req->path = target.substr(0, q);
  req->query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  req->version_minor = version[7] - '0';
  req->keep_alive = req->version_minor == 1;
  req->has_content_length = false;
  req->content_length = 0;

  // Header fields.
  size_t count = 0;
  size_t hosts = 0;
  bool keep_alive = req->keep_alive;
  size_t pos = eol + 2;
  for (;;) {
    const size_t end = head.find("\r\n", pos);
    // ParseHttpRequest only hands over heads that end with an empty line.
    if (end == std::string_view::npos) return Fail(HttpError::kBadRequest, error);
    if (end == pos) break;  // the empty line
    const std::string_view field = head.substr(pos, end - pos);
    pos = end + 2;
    if (count == limits.max_headers) return Fail(HttpError::kTooManyHeaders, error);
    const size_t colon = field.find(':');
    // No obs-fold (a line starting with whitespace), no whitespace before the colon.
    if (colon == std::string_view::npos || colon == 0) return Fail(HttpError::kBadRequest, error);
    const std::string_view name = field.substr(0, colon);
    for (char c : name) {
      if (!IsTchar(c)) return Fail(HttpError::kBadRequest, error);
    }
    const std::string_view raw_value = field.substr(colon + 1);
    for (char c : raw_value) {
      if (!IsFieldByte(c)) return Fail(HttpError::kBadRequest, error);
    }
    const std::string_view value = TrimOws(raw_value);
    headers[count++] = HttpHeader{name, value};

    if (EqualsIgnoreCase(name, "content-length")) {
      size_t n = 0;
      if (req->has_content_length || !ParseContentLength(value, &n)) {
        return Fail(HttpError::kBadRequest, error);
      }
      req->has_content_length = true;
      req->content_length = n;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      return Fail(HttpError::kNotImplemented, error);
    } else if (EqualsIgnoreCase(name, "host")) {
      ++hosts;
    } else if (EqualsIgnoreCase(name, "connection")) {
      ApplyConnection(value, &keep_alive);
    }
  }
  if (req->version_minor == 1 && hosts != 1) return Fail(HttpError::kBadRequest, error);
  if (hosts > 1) return Fail(HttpError::kBadRequest, error);
  if (req->content_length > limits.max_body_bytes) return Fail(HttpError::kBodyTooLarge, error);
  req->keep_alive = keep_alive;
  req->headers = headers;
  req->header_count = count;
  return ParseStatus::kComplete;
}

}  // namespace

int HttpErrorStatus(HttpError e) noexcept {
  const auto i = static_cast<size_t>(e);
  return i < std::size(kHttpErrors) ? kHttpErrors[i].status : 400;
}

std::string_view HttpErrorName(HttpError e) noexcept {
  const auto i = static_cast<size_t>(e);
  return i < std::size(kHttpErrors) ? kHttpErrors[i].name : "bad_request";
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

const HttpHeader* HttpRequest::Find(std::string_view name, size_t* count) const noexcept {
  const HttpHeader* first = nullptr;
  size_t n = 0;
  for (size_t i = 0; i < header_count; ++i) {
    if (EqualsIgnoreCase(headers[i].name, name)) {
      if (first == nullptr) first = &headers[i];
      ++n;
    }
  }
  if (count != nullptr) *count = n;
  return first;
}

ParseStatus ParseHttpRequest(std::string_view buf, const HttpLimits& limits, HttpParseState* st,
                             HttpHeader* headers, HttpRequest* req, HttpError* error) noexcept {
  *error = HttpError::kNone;
  const char* const base = buf.data();
  size_t i = st->scanned;
  while (i < buf.size()) {
    // Leading empty lines (RFC 9112 §2.2): skip "\r\n" pairs before the request line.
    if (st->lines == 0 && st->line_start == st->lead && i == st->lead) {
      if (base[i] == '\r') {
        if (i + 1 >= buf.size()) break;  // wait for the LF
        if (base[i + 1] != '\n') return Fail(HttpError::kBadRequest, error);
        st->lead += 2;
        if (st->lead > limits.max_head_bytes) return Fail(HttpError::kHeadTooLarge, error);
        st->line_start = st->lead;
        i = st->lead;
        continue;
      }
      // The request line starts with a method: refuse anything else at once (TLS, binary).
      if (!IsTchar(base[i])) return Fail(HttpError::kBadRequest, error);
    }
    const void* nl = std::memchr(base + i, '\n', buf.size() - i);
    if (nl == nullptr) {
      i = buf.size();
      break;
    }
    const size_t at = static_cast<size_t>(static_cast<const char*>(nl) - base);
    // CRLF only: a bare LF is an error (RFC 9112 §2.2 allows leniency; we do not).
    if (at == st->line_start || base[at - 1] != '\r') return Fail(HttpError::kBadRequest, error);
    const size_t line_len = at - 1 - st->line_start;
    if (st->lines == 0 && line_len > limits.max_request_line) {
      return Fail(HttpError::kRequestLineTooLong, error);
    }
    i = at + 1;
    if (i - st->lead > limits.max_head_bytes) return Fail(HttpError::kHeadTooLarge, error);
    if (line_len == 0 && st->lines > 0) {
      // End of the head.
      st->scanned = i;
      const std::string_view head = buf.substr(st->lead, i - st->lead);
      const ParseStatus s = ParseHead(head, limits, headers, req, error);
      if (s == ParseStatus::kComplete) req->head_bytes = i;
      return s;
    }
    ++st->lines;
    if (st->lines > limits.max_headers + 1) return Fail(HttpError::kTooManyHeaders, error);
    st->line_start = i;
  }
  st->scanned = i;
  // Not complete yet: enforce the limits on what is buffered.
  const size_t pending = buf.size() - st->lead;
  if (st->lines == 0 && buf.size() - st->line_start > limits.max_request_line + 2) {
    return Fail(HttpError::kRequestLineTooLong, error);
  }
  if (pending > limits.max_head_bytes) return Fail(HttpError::kHeadTooLarge, error);
  return ParseStatus::kIncomplete;
}

}  // namespace jwtgate::net
