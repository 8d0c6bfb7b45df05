// Revocation micro benchmarks (Google Benchmark).
//
//   BM_FilterNegative*      one blocked Bloom filter holding N keys, absent keys (the negative
//                           path of every valid token): independent checks (amortized),
//                           a dependent chain (single-call latency), batches of 256 (hash and
//                           prefetch, then probe). Hashing of a 16-byte binary id included.
//   BM_StoreNegative*       RevocationStore::IsRevoked / IsRevokedBatch with N revoked (iss,
//                           jti) pairs kept until 16 different windows, for tokens that are
//                           not revoked (36-character UUID jtis, the full check: watermarks,
//                           keyed hash of (iss, jti), filter). The tokens' jtis come from a
//                           cache-resident pool and the last 8 hex digits of each are
//                           rewritten before every check (a few stores, timed with it), so
//                           each check is a new key while the token itself is in cache, as
//                           after parsing.
//   BM_FilterNegativeJti*   the bare filter on the store benchmarks' input: the same stamped
//                           jti pool and Claims, the same keyed two-step hash of (iss, jti),
//                           then one filter line. BM_StoreNegative* / these is what the store
//                           adds (epoch guard, View, watermark flags, the tables); / the
//                           BM_FilterNegative* above adds the harness and the longer key.
//   BM_StoreInput           the store benchmarks' loop alone (Stamp, Claims; and the hash).
//   BM_StorePositive        the same for revoked tokens (filter hit + exact confirm).
//   BM_FilterInsert         Add (concurrent-safe) into a 10 M-key filter.
//   BM_DurableRevoke        RevokeJti with fdatasync and group commit, 1..512 writer threads;
//   BM_DurableRevokeBatch   Revoke() of 64 ids per call, 1 and 8 calling threads.
//   BM_DurableRevokeAsync   RevokeAsync of one id per call from one thread, with 1..1024
//                           requests in flight (completion after fdatasync).
//   BM_Recovery             Open() of a 10 M-id state, from the log only and from a snapshot.
// Counters: fpr (measured), filter_B_per_id, exact_B_per_id, bits_per_key, syncs, batch.
//
// State directories go to $JWTGATE_BENCH_DIR (default: the system temp directory); durable
// figures depend on that file system's fdatasync latency.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jwtgate/revocation.h"
#include "revoke/bloom_filter.h"
#include "revoke/hash.h"

namespace {

using jwtgate::Claims;
using jwtgate::Revocation;
using jwtgate::RevocationOptions;
using jwtgate::RevocationStats;
using jwtgate::RevocationStore;
using jwtgate::Status;
using jwtgate::revoke::BlockedBloomFilter;
using jwtgate::revoke::FastHash64;
using jwtgate::revoke::kDefaultFastSecret;

constexpr int64_t kNow = 1'800'000'000;
constexpr int kGenerations = 16;

uint64_t BinaryIdHash(uint64_t stream, uint64_t i) {
  const uint64_t key[2] = {i, stream};
  return FastHash64(key, sizeof(key), 0, kDefaultFastSecret);
}

constexpr char kIssuer[] = "https://issuer.example";

// A UUID-shaped jti (36 characters), distinct per (stream, i).
std::string Uuid(uint64_t stream, uint64_t i) {
  const uint64_t a = BinaryIdHash(stream, i);
  const uint64_t b = BinaryIdHash(stream ^ 0x5555, i);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-a%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(b >> 52),
                static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

// Rewrites the last 8 characters of `jti` (a pool entry) with hex digits of `i`, so that
// pool entry k checked with i and with i' != i (mod 2^32) are different keys.
void Stamp(std::string* jti, uint64_t i) {
  static constexpr char kHex[] = "0123456789abcdef";
  char* p = jti->data() + jti->size() - 8;
  for (int d = 7; d >= 0; --d, i >>= 4) p[d] = kHex[i & 15];
}

int64_t ExpOf(uint64_t i) {
  return kNow + 120 + static_cast<int64_t>(i % kGenerations) * 4096 + static_cast<int64_t>(i % 997);
}

std::string BenchDir(const std::string& name) {
  const char* env = std::getenv("JWTGATE_BENCH_DIR");
  const std::filesystem::path base = env != nullptr ? env : std::filesystem::temp_directory_path();
  return (base / ("jwtgate-revocation-bench-" + name)).string();
}

// ---------------------------------------------------------------------------------------------
// Filter alone.

const BlockedBloomFilter& FilterWith(size_t n) {
  static std::mutex mu;
  static std::map<size_t, std::unique_ptr<BlockedBloomFilter>> filters;
  std::lock_guard<std::mutex> l(mu);
  auto& f = filters[n];
  if (!f) {
    f = std::make_unique<BlockedBloomFilter>(n, BlockedBloomFilter::BitsPerKeyForFpr(0.001));
    for (uint64_t i = 0; i < n; ++i) f->AddExclusive(BinaryIdHash(1, i));
  }
  return *f;
}

void FilterCounters(benchmark::State& state, const BlockedBloomFilter& f, size_t n,
                    uint64_t positives, uint64_t queries) {
  state.counters["fpr"] = static_cast<double>(positives) / static_cast<double>(queries);
  state.counters["bits_per_key"] = static_cast<double>(f.bytes() * 8) / static_cast<double>(n);
  state.counters["filter_B_per_id"] = static_cast<double>(f.bytes()) / static_cast<double>(n);
  state.SetItemsProcessed(static_cast<int64_t>(queries));
}

void BM_FilterNegative(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const BlockedBloomFilter& f = FilterWith(n);
  uint64_t i = 0;
  uint64_t positives = 0;
  for (auto _ : state) {
    const bool hit = f.MayContain(BinaryIdHash(2, i++));
    positives += hit ? 1 : 0;
    benchmark::DoNotOptimize(hit);
  }
  FilterCounters(state, f, n, positives, i);
}
BENCHMARK(BM_FilterNegative)->Arg(1'000'000)->Arg(10'000'000);

// Single-call latency: the next key depends on the previous answer, so checks cannot overlap.
void BM_FilterNegativeLatency(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const BlockedBloomFilter& f = FilterWith(n);
  uint64_t i = 0;
  uint64_t positives = 0;
  uint64_t prev = 0;
  for (auto _ : state) {
    const bool hit = f.MayContain(BinaryIdHash(3, i++ + prev));
    prev = hit ? 1 : 0;
    positives += prev;
  }
  FilterCounters(state, f, n, positives, i);
}
BENCHMARK(BM_FilterNegativeLatency)->Arg(1'000'000)->Arg(10'000'000);

void BM_FilterNegativeBatch(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const BlockedBloomFilter& f = FilterWith(n);
  constexpr size_t kBatch = 256;
  uint64_t hashes[kBatch];
  bool out[kBatch];
  uint64_t i = 0;
  uint64_t positives = 0;
  for (auto _ : state) {
    for (size_t k = 0; k < kBatch; ++k) hashes[k] = BinaryIdHash(4, i++);
    f.MayContainBatch(hashes, kBatch, out);
    for (bool b : out) positives += b ? 1 : 0;
    benchmark::DoNotOptimize(out);
  }
  FilterCounters(state, f, n, positives, i);
}
BENCHMARK(BM_FilterNegativeBatch)->Arg(1'000'000)->Arg(10'000'000);

void BM_FilterInsert(benchmark::State& state) {
  constexpr size_t kKeys = 10'000'000;
  BlockedBloomFilter f(kKeys, BlockedBloomFilter::BitsPerKeyForFpr(0.001));
  uint64_t i = 0;
  for (auto _ : state) f.Add(BinaryIdHash(5, i++ % kKeys));
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_FilterInsert);

// ---------------------------------------------------------------------------------------------
// The store.

// Revokes ids [0, n) of stream 1 with batches of 8192 (no fsync).
void Fill(RevocationStore& s, size_t n) {
  std::vector<std::string> ids;
  std::vector<Revocation> batch;
  for (size_t start = 0; start < n; start += 8192) {
    ids.clear();
    batch.clear();
    for (size_t i = start; i < std::min(n, start + 8192); ++i) ids.push_back(Uuid(1, i));
    for (size_t k = 0; k < ids.size(); ++k) {
      batch.push_back(Revocation::Jti(ids[k], kIssuer, ExpOf(start + k)));
    }
    if (s.Revoke(batch) != Status::kOk) std::abort();
  }
}

RevocationOptions BenchOptions(const std::string& dir) {
  RevocationOptions o;
  o.dir = dir;
  o.now = kNow;
  o.sync = false;
  return o;
}

struct StoreFixture {
  std::unique_ptr<RevocationStore> store;
  RevocationStats before_compact;
  RevocationStats after_compact;
  // jtis never revoked: a small pool (cache-resident, like the token a verifier has just
  // parsed) whose entries are Stamp()ed before each check, so every check is a new key.
  std::vector<std::string> absent;
  std::vector<std::string> present;  // revoked jtis
};

StoreFixture& StoreWith(size_t n) {
  static std::mutex mu;
  static std::map<size_t, std::unique_ptr<StoreFixture>> stores;
  std::lock_guard<std::mutex> l(mu);
  auto& fx = stores[n];
  if (!fx) {
    fx = std::make_unique<StoreFixture>();
    const std::string dir = BenchDir("store-" + std::to_string(n));
    std::filesystem::remove_all(dir);
    std::string error;
    auto s = RevocationStore::Open(BenchOptions(dir), &error);
    if (!s.ok()) {
      std::fprintf(stderr, "open %s: %s\n", dir.c_str(), error.c_str());
      std::abort();
    }
    fx->store = std::move(s).value();
    Fill(*fx->store, n);
    fx->before_compact = fx->store->Stats();
    if (fx->store->Compact() != Status::kOk) std::abort();
    fx->after_compact = fx->store->Stats();
    // Only reads follow: the files can go now (the open log is merely unlinked).
    std::filesystem::remove_all(dir);
    for (uint64_t i = 0; i < 4096; ++i) fx->absent.push_back(Uuid(2, i));
    for (uint64_t i = 0; i < (1u << 16); ++i) fx->present.push_back(Uuid(1, i * (n >> 16)));
  }
  return *fx;
}

Claims ClaimsOf(const std::string& jti, int64_t exp) {
  Claims c;
  c.jti = jti;
  c.has_exp = true;
  c.exp = exp;
  c.has_iat = true;
  c.iat = kNow - 60;
  c.sub = "user-42";
  c.iss = kIssuer;
  return c;
}

void StoreCounters(benchmark::State& state, const StoreFixture& fx, size_t n, uint64_t hits,
                   uint64_t queries) {
  const auto dn = static_cast<double>(n);
  state.counters["revoked_answers"] = static_cast<double>(hits);
  state.counters["filter_B_per_id"] = static_cast<double>(fx.after_compact.filter_bytes) / dn;
  state.counters["exact_B_per_id"] = static_cast<double>(fx.after_compact.exact_bytes) / dn;
  state.counters["exact_B_per_id_before_compact"] =
      static_cast<double>(fx.before_compact.exact_bytes) / dn;
  state.counters["filter_B_per_id_before_compact"] =
      static_cast<double>(fx.before_compact.filter_bytes) / dn;
  state.counters["model_fpr"] = fx.after_compact.expected_fpr;
  state.SetItemsProcessed(static_cast<int64_t>(queries));
}

// The store benchmarks' input: check i is a new key made from pool entry `slot` (stamped with
// i), with a Claims as a verifier would pass it. Pool entries stay in cache, as a token just
// parsed does.
Claims AbsentClaims(StoreFixture& fx, uint64_t i, uint64_t slot) {
  std::string& id = fx.absent[slot & (fx.absent.size() - 1)];
  Stamp(&id, i >> 12);
  return ClaimsOf(id, ExpOf(i));
}

// The three ways of checking, shared by the store and by the bare filter on the same input.
// Each returns how many checks answered yes and sets *checks.
constexpr size_t kCheckBatch = 256;

// Independent checks: consecutive ones may overlap in the CPU.
template <class Check>
uint64_t CheckIndependent(benchmark::State& state, StoreFixture& fx, Check check,
                          uint64_t* checks) {
  uint64_t i = 0;
  uint64_t yes = 0;
  for (auto _ : state) {
    const bool r = check(AbsentClaims(fx, i, i));
    yes += r ? 1 : 0;
    ++i;
    benchmark::DoNotOptimize(r);
  }
  *checks = i;
  return yes;
}

// A dependent chain: the next key depends on the previous answer (single-call latency).
template <class Check>
uint64_t CheckChained(benchmark::State& state, StoreFixture& fx, Check check, uint64_t* checks) {
  uint64_t i = 0;
  uint64_t yes = 0;
  uint64_t prev = 0;
  for (auto _ : state) {
    prev = check(AbsentClaims(fx, i, i + prev)) ? 1 : 0;
    yes += prev;
    ++i;
  }
  *checks = i;
  return yes;
}

// Batches of kCheckBatch: check_batch(claims, n, out).
template <class CheckBatch>
uint64_t CheckBatches(benchmark::State& state, StoreFixture& fx, CheckBatch check_batch,
                      uint64_t* checks) {
  Claims claims[kCheckBatch];
  bool out[kCheckBatch];
  uint64_t i = 0;
  uint64_t yes = 0;
  for (auto _ : state) {
    for (size_t k = 0; k < kCheckBatch; ++k, ++i) claims[k] = AbsentClaims(fx, i, i);
    check_batch(claims, kCheckBatch, out);
    for (bool b : out) yes += b ? 1 : 0;
    benchmark::DoNotOptimize(out);
  }
  *checks = i;
  return yes;
}

void BM_StoreNegative(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  StoreFixture& fx = StoreWith(n);
  uint64_t checks = 0;
  const uint64_t hits = CheckIndependent(
      state, fx, [&fx](const Claims& c) { return fx.store->IsRevoked(c); }, &checks);
  StoreCounters(state, fx, n, hits, checks);
}
BENCHMARK(BM_StoreNegative)->Arg(1'000'000)->Arg(10'000'000);

void BM_StoreNegativeLatency(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  StoreFixture& fx = StoreWith(n);
  uint64_t checks = 0;
  const uint64_t hits = CheckChained(
      state, fx, [&fx](const Claims& c) { return fx.store->IsRevoked(c); }, &checks);
  StoreCounters(state, fx, n, hits, checks);
}
BENCHMARK(BM_StoreNegativeLatency)->Arg(1'000'000)->Arg(10'000'000);

void BM_StoreNegativeBatch(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  StoreFixture& fx = StoreWith(n);
  uint64_t checks = 0;
  const uint64_t hits = CheckBatches(
      state, fx,
      [&fx](const Claims* c, size_t k, bool* out) { fx.store->IsRevokedBatch(c, k, out); },
      &checks);
  StoreCounters(state, fx, n, hits, checks);
}
BENCHMARK(BM_StoreNegativeBatch)->Arg(1'000'000)->Arg(10'000'000);

// The bare filter on the store's own input: the same stamped jti pool and Claims, the same
// two-step keyed hash of (iss, jti), then MayContain. Store / this is what the store adds
// beyond hashing its key and probing one filter line.
struct JtiHashing {
  uint64_t prefix_seed = 0x9e3779b97f4a7c15ull * 5;
  uint64_t Prefix(std::string_view iss) const noexcept {
    return FastHash64(iss.data(), iss.size(), prefix_seed ^ iss.size(), kDefaultFastSecret);
  }
  uint64_t operator()(const Claims& c) const noexcept {
    return FastHash64(c.jti.data(), c.jti.size(), Prefix(c.iss), kDefaultFastSecret);
  }
  // As IsRevokedBatch hashes: the issuer's part once per run of equal issuers.
  void Batch(const Claims* claims, size_t n, uint64_t* out) const noexcept {
    std::string_view iss;
    uint64_t prefix = 0;
    for (size_t k = 0; k < n; ++k) {
      const Claims& c = claims[k];
      if (c.iss != iss) {
        iss = c.iss;
        prefix = Prefix(iss);
      }
      out[k] = FastHash64(c.jti.data(), c.jti.size(), prefix, kDefaultFastSecret);
    }
  }
};

void BM_FilterNegativeJti(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const BlockedBloomFilter& f = FilterWith(n);
  const JtiHashing hash;
  uint64_t checks = 0;
  const uint64_t positives = CheckIndependent(
      state, StoreWith(n), [&](const Claims& c) { return f.MayContain(hash(c)); }, &checks);
  FilterCounters(state, f, n, positives, checks);
}
BENCHMARK(BM_FilterNegativeJti)->Arg(10'000'000);

void BM_FilterNegativeJtiLatency(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const BlockedBloomFilter& f = FilterWith(n);
  const JtiHashing hash;
  uint64_t checks = 0;
  const uint64_t positives = CheckChained(
      state, StoreWith(n), [&](const Claims& c) { return f.MayContain(hash(c)); }, &checks);
  FilterCounters(state, f, n, positives, checks);
}
BENCHMARK(BM_FilterNegativeJtiLatency)->Arg(10'000'000);

void BM_FilterNegativeJtiBatch(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const BlockedBloomFilter& f = FilterWith(n);
  const JtiHashing hash;
  uint64_t hashes[kCheckBatch];
  uint64_t checks = 0;
  const uint64_t positives = CheckBatches(
      state, StoreWith(n),
      [&](const Claims* c, size_t k, bool* out) {
        hash.Batch(c, k, hashes);
        f.MayContainBatch(hashes, k, out);
      },
      &checks);
  FilterCounters(state, f, n, positives, checks);
}
BENCHMARK(BM_FilterNegativeJtiBatch)->Arg(10'000'000);

// What the store benchmarks' own loop costs per check: Stamp and Claims (arg 0), and with
// the (iss, jti) hash as well (arg 1), 256 tokens per iteration; nothing is probed. Subtract
// it from BM_StoreNegativeBatch to see the store alone.
void BM_StoreInput(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const bool hash_too = state.range(1) != 0;
  StoreFixture& fx = StoreWith(n);
  const JtiHashing hash;
  Claims claims[kCheckBatch];
  uint64_t hashes[kCheckBatch] = {};
  uint64_t i = 0;
  for (auto _ : state) {
    for (size_t k = 0; k < kCheckBatch; ++k, ++i) claims[k] = AbsentClaims(fx, i, i);
    if (hash_too) hash.Batch(claims, kCheckBatch, hashes);
    benchmark::DoNotOptimize(hashes);
    benchmark::DoNotOptimize(claims);
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_StoreInput)->Args({10'000'000, 0})->Args({10'000'000, 1});

void BM_StorePositive(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  StoreFixture& fx = StoreWith(n);
  const size_t mask = fx.present.size() - 1;
  const uint64_t stride = n >> 16;
  uint64_t i = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    const size_t k = i & mask;
    const bool r = fx.store->IsRevoked(ClaimsOf(fx.present[k], ExpOf(k * stride)));
    hits += r ? 1 : 0;
    ++i;
    benchmark::DoNotOptimize(r);
  }
  if (hits != i) state.SkipWithError("a revoked token was not found");
  StoreCounters(state, fx, n, hits, i);
}
BENCHMARK(BM_StorePositive)->Arg(10'000'000);

// ---------------------------------------------------------------------------------------------
// Durability.

std::unique_ptr<RevocationStore> g_durable;

void BM_DurableRevoke(benchmark::State& state) {
  if (state.thread_index() == 0) {
    const std::string dir = BenchDir("durable");
    std::filesystem::remove_all(dir);
    RevocationOptions o = BenchOptions(dir);
    o.sync = true;
    std::string error;
    auto s = RevocationStore::Open(o, &error);
    if (!s.ok()) std::abort();
    g_durable = std::move(s).value();
  }
  const auto stream = static_cast<uint64_t>(100 + state.thread_index());
  uint64_t i = 0;
  for (auto _ : state) {
    if (g_durable->RevokeJti(Uuid(stream, i++), kIssuer, kNow + 3600) != Status::kOk) {
      state.SkipWithError("revoke failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
  if (state.thread_index() == 0) {
    const RevocationStats st = g_durable->Stats();
    state.counters["syncs"] = static_cast<double>(st.syncs);
    state.counters["batch"] = static_cast<double>(st.records_written) /
                              static_cast<double>(std::max<uint64_t>(st.syncs, 1));
    g_durable.reset();
    std::filesystem::remove_all(BenchDir("durable"));
    std::filesystem::remove_all(BenchDir("durable-batch"));
  }
}
BENCHMARK(BM_DurableRevoke)
    ->Threads(1)
    ->Threads(16)
    ->Threads(64)
    ->Threads(256)
    ->Threads(512)
    ->UseRealTime()
    ->MinTime(2.0);

// Each call revokes a batch (an admin API request carrying many ids); several callers share
// fdatasyncs through group commit.
void BM_DurableRevokeBatch(benchmark::State& state) {
  const auto batch_size = static_cast<size_t>(state.range(0));
  if (state.thread_index() == 0) {
    const std::string dir = BenchDir("durable-batch");
    std::filesystem::remove_all(dir);
    RevocationOptions o = BenchOptions(dir);
    o.sync = true;
    std::string error;
    auto s = RevocationStore::Open(o, &error);
    if (!s.ok()) std::abort();
    g_durable = std::move(s).value();
  }
  const auto stream = static_cast<uint64_t>(300 + state.thread_index());
  std::vector<std::string> ids(batch_size);
  std::vector<Revocation> batch(batch_size);
  uint64_t i = 0;
  for (auto _ : state) {
    for (size_t k = 0; k < batch_size; ++k, ++i) {
      ids[k] = Uuid(stream, i);
      batch[k] = Revocation::Jti(ids[k], kIssuer, kNow + 3600);
    }
    if (g_durable->Revoke(batch) != Status::kOk) {
      state.SkipWithError("revoke failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
  if (state.thread_index() == 0) {
    const RevocationStats st = g_durable->Stats();
    state.counters["syncs"] = static_cast<double>(st.syncs);
    state.counters["batch"] = static_cast<double>(st.records_written) /
                              static_cast<double>(std::max<uint64_t>(st.syncs, 1));
    g_durable.reset();
    std::filesystem::remove_all(BenchDir("durable"));
    std::filesystem::remove_all(BenchDir("durable-batch"));
  }
}
BENCHMARK(BM_DurableRevokeBatch)->Arg(64)->Threads(1)->Threads(8)->UseRealTime()->MinTime(2.0);

// RevokeAsync from one thread (an event loop) keeping N single-id requests in flight: a new
// request is submitted as soon as one completes (after its fdatasync). Every completion is
// awaited before the timing ends.
void BM_DurableRevokeAsync(benchmark::State& state) {
  const auto depth = static_cast<int64_t>(state.range(0));
  std::atomic<int64_t> in_flight{0};
  std::atomic<uint64_t> failures{0};
  const std::string dir = BenchDir("durable-async");
  std::filesystem::remove_all(dir);
  RevocationOptions o = BenchOptions(dir);
  o.sync = true;
  std::string error;
  auto opened = RevocationStore::Open(o, &error);
  if (!opened.ok()) std::abort();
  std::unique_ptr<RevocationStore> store = std::move(opened).value();
  const RevocationStore::RevokeDone done = [&](Status st) {
    if (st != Status::kOk) failures.fetch_add(1, std::memory_order_relaxed);
    in_flight.fetch_sub(1, std::memory_order_release);
    in_flight.notify_all();
  };
  uint64_t i = 0;
  for (auto _ : state) {
    for (int64_t f = in_flight.load(std::memory_order_acquire); f >= depth;
         f = in_flight.load(std::memory_order_acquire)) {
      in_flight.wait(f, std::memory_order_acquire);
    }
    in_flight.fetch_add(1, std::memory_order_relaxed);
    const std::string id = Uuid(200, i++);
    const Revocation r = Revocation::Jti(id, kIssuer, kNow + 3600);
    if (store->RevokeAsync({&r, 1}, done) != Status::kOk) {
      state.SkipWithError("revoke failed");
      break;
    }
  }
  for (int64_t f = in_flight.load(std::memory_order_acquire); f != 0;
       f = in_flight.load(std::memory_order_acquire)) {
    in_flight.wait(f, std::memory_order_acquire);
  }
  if (failures.load() != 0) state.SkipWithError("a revocation failed");
  state.SetItemsProcessed(static_cast<int64_t>(i));
  const RevocationStats st = store->Stats();
  state.counters["syncs"] = static_cast<double>(st.syncs);
  state.counters["batch"] = static_cast<double>(st.records_written) /
                            static_cast<double>(std::max<uint64_t>(st.syncs, 1));
  store.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_DurableRevokeAsync)
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1024)
    ->UseRealTime()
    ->MinTime(2.0);

// ---------------------------------------------------------------------------------------------
// Recovery of 10 M ids.

void BM_Recovery(benchmark::State& state) {
  const bool snapshot = state.range(0) != 0;
  constexpr size_t kIds = 10'000'000;
  const std::string dir = BenchDir(snapshot ? "recovery-snapshot" : "recovery-log");
  std::filesystem::remove_all(dir);
  {
    std::string error;
    auto s = RevocationStore::Open(BenchOptions(dir), &error);
    if (!s.ok()) std::abort();
    Fill(**s, kIds);
    if (snapshot && (*s)->Compact() != Status::kOk) std::abort();
  }
  RevocationStats st;
  for (auto _ : state) {
    std::string error;
    auto s = RevocationStore::Open(BenchOptions(dir), &error);
    if (!s.ok()) std::abort();
    st = (*s)->Stats();
    state.PauseTiming();
    s = Status::kInternalError;  // the store's destructor is not part of recovery
    state.ResumeTiming();
  }
  state.counters["recovered_ids"] = static_cast<double>(st.jti_revocations);
  state.counters["recovery_s"] = st.recovery.seconds;
  state.counters["filter_B_per_id"] =
      static_cast<double>(st.filter_bytes) / static_cast<double>(kIds);
  state.counters["exact_B_per_id"] =
      static_cast<double>(st.exact_bytes) / static_cast<double>(kIds);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Recovery)->Arg(0)->Arg(1)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
