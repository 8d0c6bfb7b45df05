// Trusted verification keys: import from JWKS (RFC 7517), PEM or raw HMAC secrets, validated
// on import, each bound to exactly one algorithm and indexed by (kid, alg).
//
// Import is strict (security catalogue rules 1, 2, 6, 9):
//  - RSA: 2048 <= |n| <= 8192 bits, e odd with 3 <= e <= 2^32, EVP_PKEY_public_check.
//  - EC: P-256/384/521 only, x and y of exactly the coordinate length, point on the curve,
//    curve bound to ES256/ES384/ES512.
//  - OKP: Ed25519 only (alg EdDSA), canonical encoding, not of small order.
//  - oct: at least the hash length of its HS algorithm, never empty.
//  - `use` must be "sig" when present; `key_ops` must contain "verify" when present.
//  - A JWK with private members (d, p, q, dp, dq, qi, oth) is refused: a verifier holds no
//    private keys. (`oct` keys are secrets by nature and are accepted.)
//  - A JWK without `alg` gets it from the curve for EC and OKP keys, or from
//    JwksOptions::default_alg; never from a token.
// A KeySet is immutable once built and safe to share between threads; hot reload builds a
// new one and swaps a shared_ptr.
#ifndef JWTGATE_KEYS_H_
#define JWTGATE_KEYS_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "jwtgate/alg.h"
#include "jwtgate/result.h"
#include "jwtgate/status.h"

namespace jwtgate {

class Key;  // private: core/crypto/key.h
namespace crypto {
class KeySetAccess;  // private: core/crypto/key_set_access.h
}  // namespace crypto

struct JwksOptions {
  // Applied to keys without `alg` whose type does not imply one (RSA, oct).
  std::optional<Alg> default_alg;
  size_t max_bytes = 1 << 20;
  size_t max_keys = 256;
  // When true, a JWK the importer cannot use (unsupported kty or curve, `use: enc`) is skipped
  // instead of failing the whole set. Invalid keys of a supported type always fail.
  bool skip_unsupported = false;
  // The issuer these keys speak for. Non-empty: a token verified by one of them must carry
  // exactly this `iss` (kIssMissing without one, kIssNotAllowed with another), so with several
  // issuers a key of issuer A never vouches for a token that claims `iss: B`.
  std::string issuer;
  // False: an `oct` (HMAC secret) JWK refuses the whole document with
  // kJwkSymmetricNotAllowed, whatever skip_unsupported says. For key sets fetched from a
  // server: a secret published in a JWKS is no secret.
  bool allow_symmetric = true;
  // True: the keys are kept only to name the failure. A token that selects one of them is
  // rejected with kIssuerKeysStale before its signature is checked (an issuer whose keys have
  // not been confirmed for too long fails closed, distinctly from an unknown key).
  bool fail_closed = false;
};

class KeySet {
 public:
  class Builder;
  ~KeySet();
  KeySet(const KeySet&) = delete;
  KeySet& operator=(const KeySet&) = delete;

  size_t size() const noexcept;
  // The algorithms at least one key is bound to.
  AlgSet algs() const noexcept;

  struct Info {
    std::string kid;
    bool has_kid = false;
    Alg alg = Alg::kHS256;
  };
  std::vector<Info> Describe() const;

 private:
  friend class crypto::KeySetAccess;
  // Selects the key for a token (through KeySetAccess: Key is private). `has_kid` false means
  // the token carries no kid: then the key is chosen only when exactly one key is bound to
  // `alg`. Returns kOk, kUnknownKid (no key with this kid), kKeyNotFound (no key for this alg,
  // or the kid exists but for another alg), kKidRequired (several candidates, no kid).
  // Thread-safe, allocation-free.
  [[nodiscard]] Status Find(bool has_kid, std::string_view kid, Alg alg,
                            const Key** out) const noexcept;

  struct Rep;
  explicit KeySet(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

class KeySet::Builder {
 public:
  Builder();
  ~Builder();
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  // Adds every key of a JWKS document ({"keys":[...]}) or of a single JWK object.
  [[nodiscard]] Status AddJwks(std::string_view json, const JwksOptions& options = {});
  // Adds a public key in PEM (SubjectPublicKeyInfo or PKCS#1 RSA) bound to `alg`.
  [[nodiscard]] Status AddPem(std::string_view pem, Alg alg, std::optional<std::string> kid);
  // Adds an HMAC secret bound to an HS* `alg`.
  [[nodiscard]] Status AddHmacSecret(std::span<const uint8_t> secret, Alg alg,
                                     std::optional<std::string> kid);

  // Where the last AddJwks failed, for messages; each AddJwks resets all three, so after a
  // success failed_index() is kNoKey, failed_kid() is empty and DescribeFailure() is "".
  //
  // failed_index(): the 0-based position in "keys" (0 for a single JWK) of the JWK that was
  //   refused, or kNoKey when the document as a whole was (larger than max_bytes, more than
  //   max_keys keys, not JSON, not an object, "keys" not an array, neither a JWKS nor a JWK).
  // failed_kid(): that JWK's "kid" when it has one that is a string.
  // DescribeFailure(): what went wrong in words, with the status name, for a message the
  //   caller prefixes with where the document came from ("FILE: ..."). The document:
  //   `not a JSON document (jwks_bad_json)`, no key number; one key: `key #2 (kid "c"):
  //   key_too_small`. A kid is printed with `"`, `\` and bytes outside printable ASCII
  //   escaped, and cut at 64 bytes (it comes from the file, which may be hostile).
  static constexpr size_t kNoKey = std::numeric_limits<size_t>::max();
  size_t failed_index() const noexcept { return failed_index_; }
  const std::optional<std::string>& failed_kid() const noexcept { return failed_kid_; }
  std::string DescribeFailure() const;

  size_t size() const noexcept;

  // Consumes the builder's keys. A set may be empty (it then rejects every token).
  std::shared_ptr<const KeySet> Build();

 private:
  [[nodiscard]] Status Insert(std::unique_ptr<Key> key);
  // Records a failure of the whole document; `reason` says what is wrong with it.
  [[nodiscard]] Status FailDocument(Status s, std::string reason);
  std::vector<std::unique_ptr<Key>> keys_;
  size_t failed_index_ = kNoKey;
  std::optional<std::string> failed_kid_;
  Status failed_status_ = Status::kOk;
  std::string failed_reason_;  // what is wrong beyond the status name, or ""
};

}  // namespace jwtgate

#endif  // JWTGATE_KEYS_H_
