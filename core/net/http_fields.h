// Field-level rules of the auth endpoint: reading the bearer credential of a request
// (RFC 6750 §2.1, RFC 9110 §11) and writing untrusted values into response header fields
// (security catalogue rule 10, 1.F F2).
#ifndef JWTGATE_NET_HTTP_FIELDS_H_
#define JWTGATE_NET_HTTP_FIELDS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "net/http_parser.h"

namespace jwtgate::net {

enum class BearerResult : uint8_t {
  kOk,         // exactly one Authorization field with a well-formed Bearer credential
  kMissing,    // no Authorization field, or one with another scheme (no bearer credential)
  kDuplicate,  // several Authorization fields (RFC 6750 §2: one method, one credential)
  kMalformed,  // "Bearer" without a credential, or not a b64token ("Bearer a b", "Bearer a,b")
};

// Finds the bearer token of `req`. The scheme is matched case-insensitively ("bearer",
// "BEARER"), followed by one or more spaces and a b64token (RFC 6750 §2.1:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="). On kOk, `*token` is a view
// into the request.
BearerResult ExtractBearer(const HttpRequest& req, std::string_view* token) noexcept;

// Appends `value` to `out` so that it is safe as a header field value and can be decoded back
// without ambiguity: bytes outside 0x21..0x7E (controls, CR, LF, DEL, non-ASCII), '%', and
// spaces at either end are percent-encoded (%XX, upper case); everything else is copied.
// A value with no such byte is copied unchanged. `also_encode` (if not NUL) is encoded too: a
// list separator inside one element of a list. Returns false, appending nothing, when the
// encoded form would exceed `max_bytes`.
bool AppendHeaderValue(std::string_view value, size_t max_bytes, std::string* out,
                       char also_encode = '\0');

// True when `name` is a valid field name (RFC 9110 tchar, non-empty).
bool IsValidFieldName(std::string_view name) noexcept;

}  // namespace jwtgate::net

#endif  // JWTGATE_NET_HTTP_FIELDS_H_
