// The data every strategy runs on, built once per run and shared read-only by the threads.
//
// Tokens (TokenPool): per algorithm, `count` distinct tokens signed with one fresh key
// (RSA 2048, P-256, Ed25519, 256-bit HMAC secret), header {"alg","typ":"JWT","kid"} and the
// claims an access token carries:
//   {"iss":"https://id.example.com","sub":"user-0000042","aud":"api.example.com",
//    "iat":now-60,"exp":now+3600,"jti":"<22 base64url chars: 16 random bytes>","scope":"..."}
// All tokens are valid for the whole run; the Verifier requires exp and checks iss and aud.
//
// Sessions (SessionSet): `count` sessions whose 32-byte id is SHA-256("jwtgate-session:" n)
// for n = 0..count-1, carried by a request as the 43-character base64url cookie. The ids are
// as uniformly spread as random ones (what matters to a hash table or a B-tree), and the
// derivation lets pgbench hit exactly the same rows in its cross-check: its script computes
// sha256(('jwtgate-session:' || (:n)::text)::bytea) on the server. The value is a ~150-byte JSON
// document (uid, sub, roles, created, expires, ip, ua).
//
// Revocations (MakeRevocationStore): a RevocationStore in a temporary directory with `count`
// revoked jtis (random 128-bit ids, so none of a token pool's) whose exps are spread over the
// next hour, inserted in batches from several threads with sync off (benchmark set-up, not the
// durable path), plus `watermarks` subject watermarks for the first subjects of the given pool,
// set before their tokens' iat: those tokens meet a watermark that applies and still pass.
#ifndef JWTGATE_BENCH_STRATEGIES_FIXTURES_H_
#define JWTGATE_BENCH_STRATEGIES_FIXTURES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "jwtgate/alg.h"
#include "jwtgate/keys.h"
#include "jwtgate/revocation.h"
#include "store/session_store.h"

namespace jwtgate::bench {

inline constexpr std::string_view kIssuer = "https://id.example.com";
inline constexpr std::string_view kAudience = "api.example.com";
inline constexpr int64_t kLeewayS = 30;
inline constexpr int64_t kTokenLifetimeS = 3600;

struct TokenPool {
  Alg alg = Alg::kHS256;
  std::shared_ptr<const KeySet> keys;
  std::string public_jwk;  // the public JWK of `keys` (for HS*, the secret itself)
  std::vector<std::string> tokens;
  int64_t iat = 0;
  double sign_seconds = 0;
  double mean_token_bytes = 0;
  std::string example_header;  // decoded JSON of tokens[0]
  std::string example_payload;
};

// Generates the key and signs `count` tokens on `threads` threads. Throws std::runtime_error.
TokenPool MakeTokenPool(Alg alg, size_t count, int64_t now, unsigned threads, uint64_t seed);

// The subject of token i of a pool ("user-0000042").
std::string SubjectOf(size_t i);

class SessionSet {
 public:
  static constexpr size_t kIdBytes = 32;
  static constexpr size_t kCookieBytes = 43;  // base64url of 32 bytes

  SessionSet(size_t count, int64_t now);

  size_t size() const noexcept { return count_; }
  std::string_view id(size_t i) const noexcept {
    return std::string_view(ids_).substr(i * kIdBytes, kIdBytes);
  }
  std::string_view cookie(size_t i) const noexcept {
    return std::string_view(cookies_).substr(i * kCookieBytes, kCookieBytes);
  }
  // The session value of session i (deterministic).
  std::string Value(size_t i) const;

  // Every session as a record for bulk loading; the values live in `*storage`.
  std::vector<store::SessionRecord> Records(std::string* storage) const;

  double build_seconds = 0;

 private:
  size_t count_;
  int64_t now_;
  std::string ids_;
  std::string cookies_;
};

struct RevocationFixture {
  std::unique_ptr<RevocationStore> store;
  std::string dir;
  size_t revoked = 0;
  size_t watermarks = 0;
  double insert_seconds = 0;      // wall
  double insert_cpu_seconds = 0;  // this process, all threads
  double watermark_seconds = 0;
};

// Inserts from `threads` threads. Throws std::runtime_error. `progress` (may be null) is
// called now and then with the number inserted so far.
RevocationFixture MakeRevocationStore(const std::string& dir, size_t count, size_t watermarks,
                                      const TokenPool& watermark_pool, int64_t now, uint64_t seed,
                                      unsigned threads,
                                      void (*progress)(size_t done, size_t total));

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_FIXTURES_H_
