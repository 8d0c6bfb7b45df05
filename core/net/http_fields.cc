#include "net/http_fields.h"

namespace jwtgate::net {
namespace {

inline bool IsB64TokenChar(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

inline bool IsTchar(char c) noexcept {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~")) {
    if (c == t) return true;
  }
  return false;
}

}  // namespace

BearerResult ExtractBearer(const HttpRequest& req, std::string_view* token) noexcept {
  size_t count = 0;
  const HttpHeader* h = req.Find("authorization", &count);
  if (count == 0) return BearerResult::kMissing;
  if (count > 1) return BearerResult::kDuplicate;
  std::string_view v = h->value;  // already without surrounding whitespace
  const size_t sp = v.find(' ');
  const std::string_view scheme = v.substr(0, sp);
  if (!EqualsIgnoreCase(scheme, "bearer")) return BearerResult::kMissing;
  if (sp == std::string_view::npos) return BearerResult::kMalformed;
  v.remove_prefix(sp);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.empty()) return BearerResult::kMalformed;
  size_t i = 0;
  while (i < v.size() && IsB64TokenChar(v[i])) ++i;
  if (i == 0) return BearerResult::kMalformed;
  while (i < v.size() && v[i] == '=') ++i;
  if (i != v.size()) return BearerResult::kMalformed;
  *token = v;
  return BearerResult::kOk;
}

bool AppendHeaderValue(std::string_view value, size_t max_bytes, std::string* out,
                       char also_encode) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  auto must_encode = [&value, also_encode](size_t i) {
    const auto u = static_cast<unsigned char>(value[i]);
    const bool edge_space = u == ' ' && (i == 0 || i + 1 == value.size());
    return u < 0x20 || u >= 0x7f || u == '%' || edge_space ||
           (also_encode != '\0' && value[i] == also_encode);
  };
  size_t encoded = 0;
  for (size_t i = 0; i < value.size(); ++i) encoded += must_encode(i) ? 3 : 1;
  if (encoded > max_bytes) return false;
  if (encoded == value.size()) {
    out->append(value);
    return true;
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const auto u = static_cast<unsigned char>(value[i]);
    if (must_encode(i)) {
      out->push_back('%');
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xf]);
    } else {
      out->push_back(static_cast<char>(u));
    }
  }
  return true;
}

bool IsValidFieldName(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

}  // namespace jwtgate::net
