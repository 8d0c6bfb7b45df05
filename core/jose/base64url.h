// Strict base64url (RFC 4648 §5) as JWS requires (RFC 7515 §2): no padding, no whitespace, no
// characters outside [A-Za-z0-9_-], zero trailing bits, length mod 4 != 1.
//
// Hand-written rather than OpenSSL's EVP_DecodeBlock (standard alphabet, lenient about
// whitespace and padding) or libsodium's sodium_base642bin (strict but constant-time and
// several times slower): this runs on every token, and the strictness rules above are part of
// the contract. Tests compare it with sodium_base642bin over random and adversarial input.
#ifndef JWTGATE_JOSE_BASE64URL_H_
#define JWTGATE_JOSE_BASE64URL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jwtgate::jose {

// Exact decoded size of a canonical encoding of length `n` (n % 4 != 1).
constexpr size_t Base64UrlDecodedSize(size_t n) noexcept {
  return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}
constexpr size_t Base64UrlEncodedSize(size_t n) noexcept {
  return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

// Decodes `in` into `out`, which must hold Base64UrlDecodedSize(in.size()) bytes.
// Returns false (and leaves `out` unspecified) on any non-canonical input, including empty.
[[nodiscard]] bool Base64UrlDecode(std::string_view in, uint8_t* out, size_t* out_len) noexcept;

// The same with the portable loop alone, what a CPU without AVX2 runs: for the tests, which
// compare the two paths on every input.
[[nodiscard]] bool Base64UrlDecodeBaseline(std::string_view in, uint8_t* out,
                                           size_t* out_len) noexcept;

// Convenience for import and tests (allocates).
[[nodiscard]] bool Base64UrlDecode(std::string_view in, std::string* out);

void Base64UrlEncode(const uint8_t* in, size_t n, std::string* out);
std::string Base64UrlEncode(std::string_view in);

}  // namespace jwtgate::jose

#endif  // JWTGATE_JOSE_BASE64URL_H_
