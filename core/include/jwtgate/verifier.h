// Verifier: the strict JWS-compact verification path.
//
//   split . . -> base64url -> strict JSON header -> key by (kid, alg) -> signature
//   -> strict JSON claims -> policy (exp/nbf/iat/iss/aud/typ/...) -> revocation -> verdict
//
// The payload is parsed only after the signature has been checked, and revocation runs only
// for tokens whose signature and claims passed. The signing input is a view of the token,
// never rebuilt. Nothing on this path throws or calls an OpenSSL decoder or by-name fetch;
// the only allocations are first-use growth of a VerifyContext's buffers.
#ifndef JWTGATE_VERIFIER_H_
#define JWTGATE_VERIFIER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "jwtgate/alg.h"
#include "jwtgate/claims.h"
#include "jwtgate/keys.h"
#include "jwtgate/status.h"

namespace jwtgate {

// Size caps. Every one is checked before the work it bounds. The decoded caps must be raised
// with max_token_bytes, or a correctly signed token within max_token_bytes is refused as
// payload_too_large: set them together with ForTokenBytes.
struct Limits {
  size_t max_token_bytes = 8192;
  size_t max_header_bytes = 1024;   // decoded
  size_t max_payload_bytes = 6144;  // decoded
  size_t max_kid_bytes = 256;
  uint32_t max_json_depth = 16;  // header and payload

  // Caps for tokens of up to `max_token_bytes`: the decoded payload may hold all a token of
  // that size can carry (3/4 of it, base64url's ratio), the decoded header max(1 KiB, 1/8
  // of it) (a header names an algorithm, a key id and a type: it stays small). Limits{} is
  // ForTokenBytes(8192).
  static constexpr Limits ForTokenBytes(size_t max_token_bytes) noexcept {
    Limits l;
    l.max_token_bytes = max_token_bytes;
    l.max_payload_bytes = max_token_bytes / 4 * 3;
    l.max_header_bytes = max_token_bytes / 8 > 1024 ? max_token_bytes / 8 : 1024;
    return l;
  }
};

struct VerifierOptions {
  ClaimsPolicy policy;
  Limits limits;
  // Algorithms accepted at all (intersected with the algorithms of the key set).
  AlgSet algorithms = AlgSet::All();
};

// Implemented by the revocation subsystem; consulted for tokens that passed everything else.
class RevocationCheck {
 public:
  virtual ~RevocationCheck() = default;
  // True when the token is revoked. Must be thread-safe and must not allocate or block.
  [[nodiscard]] virtual bool IsRevoked(const Claims& claims) const noexcept = 0;

  // Batch form: revoked[i] = IsRevoked(claims[i]) for i < n. Implementations override it to
  // hash and prefetch every probe first, then check (the pipeline calls it per batch).
  virtual void IsRevokedBatch(const Claims* claims, size_t n, bool* revoked) const noexcept {
    for (size_t i = 0; i < n; ++i) revoked[i] = IsRevoked(claims[i]);
  }
};

// Per-thread scratch: JSON parsers, decode buffers. Not thread-safe: one per thread (or per
// worker). Reusing it across calls is what keeps the path allocation-free.
class VerifyContext {
 public:
  VerifyContext();
  ~VerifyContext();
  VerifyContext(const VerifyContext&) = delete;
  VerifyContext& operator=(const VerifyContext&) = delete;

  // After a successful Verify: the value of the top-level claim `name` of the payload as a
  // string (strings unescaped; numbers and booleans in their JSON text; other types: false).
  // Views are valid until the next Verify with this context.
  bool ClaimAsString(std::string_view name, std::string_view* out) const noexcept;

  // After a successful Verify: copies the claim at `path` (a top-level name or a JSON pointer,
  // see IsValidClaimPath) into `*out`; kAbsent when there is none or `path` is not valid.
  // Reuses `out->items`' capacity.
  void Capture(std::string_view path, ClaimValue* out) const;

 private:
  friend class Verifier;
  struct Impl;
  Impl& impl() noexcept { return *impl_; }
  std::unique_ptr<Impl> impl_;
};

class Verifier {
 public:
  // `keys` must not be null. `revocation` may be null (no revocation check); it must outlive
  // the Verifier.
  Verifier(std::shared_ptr<const KeySet> keys, VerifierOptions options,
           const RevocationCheck* revocation = nullptr);
  ~Verifier();

  // Verifies `token` at time `now` (seconds since the epoch). On kOk fills `*out` (may be
  // null) with views into `ctx`. Thread-safe when each thread passes its own `ctx`.
  [[nodiscard]] Status Verify(std::string_view token, int64_t now, VerifyContext& ctx,
                              Claims* out) const noexcept;

  // Same, with a context owned by the calling thread (created on its first call, released at
  // thread exit). The views in `*out` point into that context: they stay valid until the
  // calling thread's next call of this overload, on any Verifier. kInternalError when the
  // context cannot be allocated.
  [[nodiscard]] Status Verify(std::string_view token, int64_t now, Claims* out) const noexcept;

  // Everything but the revocation check: for callers that run revocation themselves, in
  // batches (the pipeline). REQUIRES: on kOk, the caller checks revocation() before
  // accepting the token.
  [[nodiscard]] Status VerifyBeforeRevocation(std::string_view token, int64_t now,
                                              VerifyContext& ctx, Claims* out) const noexcept;

  // Policy only, over already-verified typed claims (the verified-token cache re-checks time
  // with this): exp with leeway, then revocation.
  [[nodiscard]] Status Recheck(const Claims& claims, int64_t now) const noexcept;

  // out[i] = Recheck(claims[i], now) for i < n, with one RevocationCheck::IsRevokedBatch call
  // (which overlaps the filter misses of the batch) instead of n IsRevoked calls.
  void RecheckBatch(const Claims* claims, size_t n, int64_t now, Status* out) const noexcept;

  const KeySet& keys() const noexcept { return *keys_; }
  const std::shared_ptr<const KeySet>& key_set() const noexcept { return keys_; }
  const VerifierOptions& options() const noexcept { return options_; }
  const RevocationCheck* revocation() const noexcept { return revocation_; }

 private:
  std::shared_ptr<const KeySet> keys_;
  VerifierOptions options_;
  const RevocationCheck* revocation_;
  uint64_t id_;     // unique per Verifier in the process: keys per-context memos
  AlgSet allowed_;  // options_.algorithms intersected with the key set's algorithms
};

}  // namespace jwtgate

#endif  // JWTGATE_VERIFIER_H_
