#include "jose/compact.h"

#include <array>

namespace jwtgate::jose {
namespace {

// 1 for [A-Za-z0-9_-], 2 for '.', 0 otherwise.
constexpr std::array<uint8_t, 256> MakeClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] = 1;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = 1;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = 1;
  t['-'] = 1;
  t['_'] = 1;
  t['.'] = 2;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = MakeClassTable();

}  // namespace

Status SplitCompact(std::string_view token, size_t max_bytes, CompactParts* out) noexcept {
  if (token.empty()) return Status::kTokenEmpty;
  if (token.size() > max_bytes) return Status::kTokenTooLarge;
  size_t dots[4];
  size_t ndots = 0;
  uint8_t all = 1;
  for (size_t i = 0; i < token.size(); ++i) {
    const uint8_t k = kClass[static_cast<uint8_t>(token[i])];
    all &= static_cast<uint8_t>(k != 0);
    if (k == 2) {
      if (ndots == 4) return Status::kTokenMalformed;
      dots[ndots++] = i;
    }
  }
  if (!all) return Status::kTokenMalformed;
  // Segments must be non-empty: no leading/trailing dot, no two adjacent dots.
  size_t prev = 0;
  for (size_t d = 0; d < ndots; ++d) {
    if (dots[d] == prev) return Status::kTokenMalformed;
    prev = dots[d] + 1;
  }
  if (prev == token.size()) return Status::kTokenMalformed;
  if (ndots == 4) return Status::kTokenIsJwe;
  if (ndots != 2) return Status::kTokenMalformed;
  out->header = token.substr(0, dots[0]);
  out->payload = token.substr(dots[0] + 1, dots[1] - dots[0] - 1);
  out->signature = token.substr(dots[1] + 1);
  out->signing_input = token.substr(0, dots[1]);
  return Status::kOk;
}

}  // namespace jwtgate::jose
