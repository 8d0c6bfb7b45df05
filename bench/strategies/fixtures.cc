#include "fixtures.h"

#include <sodium.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <thread>

#include "jose/base64url.h"
#include "jwtgate/signer.h"
#include "jwtgate/status.h"
#include "../common/proc_stats.h"

namespace jwtgate::bench {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void CheckStatus(Status s, const std::string& what) {
  if (s != Status::kOk) throw std::runtime_error(what + ": " + std::string(ToString(s)));
}

std::string RandomJti(std::mt19937_64& rng) {
  uint8_t raw[16];
  for (size_t i = 0; i < sizeof raw; i += 8) {
    const uint64_t v = rng();
    for (size_t j = 0; j < 8; ++j) raw[i + j] = static_cast<uint8_t>(v >> (8 * j));
  }
  std::string out;
  jose::Base64UrlEncode(raw, sizeof raw, &out);
  return out;
}

std::string Decoded(std::string_view b64) {
  std::string out;
  if (!jose::Base64UrlDecode(b64, &out)) return {};
  return out;
}

}  // namespace

std::string SubjectOf(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user-%07zu", i);
  return buf;
}

TokenPool MakeTokenPool(Alg alg, size_t count, int64_t now, unsigned threads, uint64_t seed) {
  if (count == 0) throw std::runtime_error("token pool: count must be > 0");
  const auto t0 = std::chrono::steady_clock::now();
  TokenPool pool;
  pool.alg = alg;
  pool.iat = now - 60;
  const std::string kid = "k-" + std::string(AlgName(alg));
  std::string private_key;
  std::string public_jwk;
  CheckStatus(GenerateKey(alg, kid, &private_key, &public_jwk),
              "GenerateKey " + std::string(AlgName(alg)));
  KeySet::Builder builder;
  CheckStatus(builder.AddJwks(public_jwk), "AddJwks " + std::string(AlgName(alg)));
  pool.keys = builder.Build();
  pool.public_jwk = public_jwk;

  std::mt19937_64 rng(seed * 131 + static_cast<uint64_t>(alg));
  std::vector<std::string> payloads(count);
  for (size_t i = 0; i < count; ++i) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  R"({"iss":"%s","sub":"%s","aud":"%s","iat":%lld,"exp":%lld,"jti":"%s",)"
                  R"("scope":"profile orders:read orders:write"})",
                  std::string(kIssuer).c_str(), SubjectOf(i).c_str(),
                  std::string(kAudience).c_str(), static_cast<long long>(pool.iat),
                  static_cast<long long>(now) + kTokenLifetimeS, RandomJti(rng).c_str());
    payloads[i] = buf;
  }

  pool.tokens.resize(count);
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(count)));
  std::vector<std::string> errors(threads);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      // One Signer per thread: a Signer is not documented as shareable.
      auto signer = FamilyOf(alg) == AlgFamily::kHmac ? Signer::FromJwk(private_key, alg)
                                                      : Signer::FromPem(private_key, alg);
      if (!signer.ok()) {
        errors[t] = "Signer: " + std::string(ToString(signer.status()));
        return;
      }
      for (size_t i = t; i < count; i += threads) {
        auto token = signer->Sign(payloads[i], kid);
        if (!token.ok()) {
          errors[t] = "Sign: " + std::string(ToString(token.status()));
          return;
        }
        pool.tokens[i] = std::move(*token);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  for (const std::string& e : errors) {
    if (!e.empty()) throw std::runtime_error(std::string(AlgName(alg)) + ": " + e);
  }
  double bytes = 0;
  for (const std::string& t : pool.tokens) bytes += static_cast<double>(t.size());
  pool.mean_token_bytes = bytes / static_cast<double>(count);
  const std::string_view first = pool.tokens[0];
  const size_t dot1 = first.find('.');
  const size_t dot2 = first.find('.', dot1 + 1);
  pool.example_header = Decoded(first.substr(0, dot1));
  pool.example_payload = Decoded(first.substr(dot1 + 1, dot2 - dot1 - 1));
  pool.sign_seconds = SecondsSince(t0);
  return pool;
}

SessionSet::SessionSet(size_t count, int64_t now) : count_(count), now_(now) {
  const auto t0 = std::chrono::steady_clock::now();
  if (sodium_init() < 0) throw std::runtime_error("sodium_init failed");
  ids_.resize(count * kIdBytes);
  cookies_.reserve(count * kCookieBytes);
  std::string input;
  std::string cookie;
  for (size_t i = 0; i < count; ++i) {
    input = "jwtgate-session:" + std::to_string(i);
    auto* id = reinterpret_cast<unsigned char*>(ids_.data() + i * kIdBytes);
    crypto_hash_sha256(id, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    jose::Base64UrlEncode(id, kIdBytes, &cookie);
    cookies_.append(cookie);
  }
  build_seconds = SecondsSince(t0);
}

std::string SessionSet::Value(size_t i) const {
  char buf[256];
  const int n =
      std::snprintf(buf, sizeof buf,
                    R"J({"uid":%zu,"sub":"%s","roles":["customer"],"created":%lld,"expires":%lld,)J"
                    R"J("ip":"203.0.%zu.%zu","ua":"Mozilla/5.0 (X11; Linux x86_64)"})J",
                    i, SubjectOf(i).c_str(), static_cast<long long>(now_) - 600,
                    static_cast<long long>(now_) + 86400, (i >> 8) & 255, i & 255);
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<store::SessionRecord> SessionSet::Records(std::string* storage) const {
  storage->clear();
  std::vector<size_t> offsets(count_ + 1);
  for (size_t i = 0; i < count_; ++i) {
    offsets[i] = storage->size();
    storage->append(Value(i));
  }
  offsets[count_] = storage->size();
  std::vector<store::SessionRecord> records(count_);
  for (size_t i = 0; i < count_; ++i) {
    records[i] = {id(i),
                  std::string_view(*storage).substr(offsets[i], offsets[i + 1] - offsets[i])};
  }
  return records;
}

RevocationFixture MakeRevocationStore(const std::string& dir, size_t count, size_t watermarks,
                                      const TokenPool& watermark_pool, int64_t now, uint64_t seed,
                                      unsigned threads, void (*progress)(size_t, size_t)) {
  RevocationFixture f;
  f.dir = dir;
  RevocationOptions options;
  options.dir = dir;
  options.now = now;
  options.sync = false;  // set-up only: durability is not what is measured
  options.leeway_s = kLeewayS * 2;
  options.initial_capacity = std::max<size_t>(1024, count);
  std::string error;
  auto opened = RevocationStore::Open(options, &error);
  if (!opened.ok()) throw std::runtime_error("RevocationStore::Open " + dir + ": " + error);
  f.store = std::move(*opened);

  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = ProcessCpuSeconds(static_cast<int>(getpid()));
  // Several inserters: each generates its own jtis and calls Revoke with whole batches. The
  // store hashes a batch outside its lock, so that part runs in parallel; the inserts into
  // the filters and tables are serialised by the store.
  threads = std::max(1u, threads);
  std::atomic<size_t> done{0};
  std::vector<std::string> errors(threads);
  std::vector<std::thread> inserters;
  for (unsigned t = 0; t < threads; ++t) {
    inserters.emplace_back([&, t] {
      constexpr size_t kBatch = 1 << 15;
      constexpr size_t kJtiLen = 22;
      std::string jtis(kBatch * kJtiLen, '\0');
      std::vector<Revocation> batch;
      batch.reserve(kBatch);
      std::mt19937_64 rng((seed ^ 0x7265766f6b6564ULL) + 0x9e3779b97f4a7c15ULL * t);
      std::string jti;
      const size_t share = count / threads + (t < count % threads ? 1 : 0);
      for (size_t mine = 0; mine < share;) {
        const size_t n = std::min(kBatch, share - mine);
        batch.clear();
        for (size_t i = 0; i < n; ++i) {
          jti = RandomJti(rng);
          std::copy(jti.begin(), jti.end(),
                    jtis.begin() + static_cast<std::ptrdiff_t>(i * kJtiLen));
          // exps spread over the coming hour: the tokens these ids belonged to are still live.
          const int64_t exp = now + 1 + static_cast<int64_t>(rng() % kTokenLifetimeS);
          const std::string_view id = std::string_view(jtis).substr(i * kJtiLen, kJtiLen);
          batch.push_back(Revocation::Jti(id, kIssuer, exp));
        }
        const Status s = f.store->Revoke(batch);
        if (s != Status::kOk) {
          errors[t] = "Revoke: " + std::string(ToString(s)) + ": " + f.store->last_error();
          return;
        }
        mine += n;
        const size_t total = done.fetch_add(n, std::memory_order_relaxed) + n;
        if (progress != nullptr && t == 0 && total < count) progress(total, count);
      }
    });
  }
  for (std::thread& th : inserters) th.join();
  for (const std::string& e : errors) {
    if (!e.empty()) throw std::runtime_error(e);
  }
  if (progress != nullptr) progress(count, count);
  f.insert_cpu_seconds = ProcessCpuSeconds(static_cast<int>(getpid())) - cpu0;
  f.revoked = count;
  f.insert_seconds = SecondsSince(t0);

  const auto t1 = std::chrono::steady_clock::now();
  std::vector<std::string> subjects;
  std::vector<Revocation> batch;
  watermarks = std::min(watermarks, watermark_pool.tokens.size());
  subjects.reserve(watermarks);
  for (size_t i = 0; i < watermarks; ++i) subjects.push_back(SubjectOf(i));
  for (size_t i = 0; i < watermarks; ++i) {
    // Before the tokens' iat: the watermark applies to these subjects' tokens, which stay valid.
    batch.push_back(Revocation::Subject(subjects[i], watermark_pool.iat - 600));
  }
  if (!batch.empty()) {
    const Status s = f.store->Revoke(batch);
    if (s != Status::kOk) throw std::runtime_error("RevokeSubject: " + std::string(ToString(s)));
  }
  f.watermarks = watermarks;
  f.watermark_seconds = SecondsSince(t1);
  return f;
}

}  // namespace jwtgate::bench
