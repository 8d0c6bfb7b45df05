// Pipeline and verified-token cache benchmarks.
//
//  BM_Direct/<alg>                 Verifier::Verify in a loop on one thread (the baseline).
//  BM_Pipeline/<alg>/workers:W     one submitter keeping up to 512 tokens in flight, W workers;
//                                  items_per_second is the pipeline's throughput.
//  BM_PipelineLatency/<batch>/<deadline_us>
//                                  one token in flight at a time (HS256): the per-token latency
//                                  cost of the batch size and deadline.
//  BM_CacheHit/<alg>               VerifiedTokenCache::Find on a hit (the guarded pointer form
//                                  the daemon uses), including the seeded hash of the token, the
//                                  exp re-check and a revocation re-check against a store
//                                  holding 1 M revoked ids.
//  BM_CacheHitShared/<form>/threads:T
//                                  T threads hitting the SAME entry (HS256, 1 M revoked ids):
//                                  form 0 is the guarded pointer form, form 1 the shared_ptr
//                                  form (one reference count increment and decrement per hit,
//                                  on a cache line every thread writes). Per-thread time that
//                                  stays flat from 1 to 2 threads means no contention.
//
// What "pipeline overhead" compares, in one run of this binary:
//  - throughput: BM_Pipeline/<alg>/workers:1 items_per_second against BM_Direct/<alg>
//    items_per_second, both over real time (the submitter runs on another core, as an I/O
//    thread would);
//  - CPU: the cpu_ns_per_token counter of both, the process's CPU time (every thread:
//    submitter, workers, idle pool threads) over the timed loop divided by the tokens. For
//    BM_Direct it is the one verifying thread. BM_Pipeline splits it into submitter_cpu_ns
//    (the submitting thread) and workers_cpu_ns (every other thread) per token;
//    workers_cpu_ns minus BM_Direct's cpu_ns_per_token is the workers' per-token overhead.
// Every token stream cycles through 1024 distinct tokens, so in-batch de-duplication never
// inflates a throughput figure.
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jwtgate/cache.h"
#include "jwtgate/keys.h"
#include "jwtgate/pipeline.h"
#include "jwtgate/revocation.h"
#include "jwtgate/signer.h"
#include "jwtgate/verifier.h"

namespace {

using namespace jwtgate;

constexpr int64_t kNow = 1800000000;
constexpr size_t kTokens = 1024;
constexpr Alg kAlgs[] = {Alg::kHS256, Alg::kRS256, Alg::kES256, Alg::kEdDSA};

int64_t FixedClock() { return kNow; }

// CPU time of the whole process (all threads), in nanoseconds.
int64_t ProcessCpuNs() {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// CPU time of the calling thread, in nanoseconds.
int64_t ThreadCpuNs() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void SetCpuPerToken(benchmark::State& state, int64_t cpu_ns) {
  state.counters["cpu_ns_per_token"] =
      state.iterations() ? static_cast<double>(cpu_ns) / static_cast<double>(state.iterations()) : 0;
}

struct Fixture {
  std::shared_ptr<const Verifier> verifier;
  std::vector<std::string> tokens;
};

std::unique_ptr<RevocationStore>& Store() {
  static std::unique_ptr<RevocationStore> store = [] {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("jwtgate-pipeline-bench-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    RevocationOptions o;
    o.dir = dir.string();
    o.now = kNow;
    o.sync = false;
    std::string error;
    auto r = RevocationStore::Open(o, &error);
    if (!r.ok()) {
      fprintf(stderr, "revocation store: %s\n", error.c_str());
      std::abort();
    }
    std::unique_ptr<RevocationStore> s = std::move(*r);
    std::vector<std::string> ids;
    std::vector<Revocation> batch;
    for (int i = 0; i < 1000000; i += 1000) {
      ids.clear();
      batch.clear();
      for (int k = 0; k < 1000; ++k) ids.push_back("revoked-" + std::to_string(i + k));
      for (const auto& id : ids) batch.push_back(Revocation::Jti(id, kNow + 3600 + (i % 7200)));
      if (s->Revoke(batch) != Status::kOk) std::abort();
    }
    std::filesystem::remove_all(dir);  // the open store keeps its state in memory
    return s;
  }();
  return store;
}

const Fixture& Get(Alg alg, bool with_revocation = false) {
  static std::map<std::pair<Alg, bool>, Fixture> fixtures;
  auto it = fixtures.find({alg, with_revocation});
  if (it != fixtures.end()) return it->second;
  std::string priv, jwk;
  if (GenerateKey(alg, "k1", &priv, &jwk) != Status::kOk) std::abort();
  auto signer = FamilyOf(alg) == AlgFamily::kHmac ? Signer::FromJwk(priv, alg) : Signer::FromPem(priv, alg);
  if (!signer.ok()) std::abort();
  KeySet::Builder b;
  if (b.AddJwks(jwk) != Status::kOk) std::abort();
  VerifierOptions vo;
  vo.policy.issuers = {"https://issuer.example"};
  vo.policy.audiences = {"api"};
  Fixture f;
  f.verifier = std::make_shared<Verifier>(b.Build(), vo, with_revocation ? Store().get() : nullptr);
  for (size_t i = 0; i < kTokens; ++i) {
    const std::string claims =
        "{\"iss\":\"https://issuer.example\",\"sub\":\"user-" + std::to_string(i) +
        "\",\"aud\":\"api\",\"iat\":" + std::to_string(kNow - 60) + ",\"exp\":" +
        std::to_string(kNow + 3600) + ",\"jti\":\"" + std::to_string(i * 7919) + "-id\"}";
    f.tokens.push_back(*signer->Sign(claims, "k1"));
  }
  return fixtures.emplace(std::pair{alg, with_revocation}, std::move(f)).first->second;
}

void BM_Direct(benchmark::State& state) {
  const Alg alg = kAlgs[state.range(0)];
  const Fixture& f = Get(alg);
  VerifyContext ctx;
  Claims c;
  size_t i = 0;
  const int64_t cpu0 = ProcessCpuNs();
  for (auto _ : state) {
    const Status s = f.verifier->Verify(f.tokens[i++ % kTokens], kNow, ctx, &c);
    if (s != Status::kOk) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(c);
  }
  SetCpuPerToken(state, ProcessCpuNs() - cpu0);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string(AlgName(alg)));
}

// Verifier::Verify on T independent threads, no pipeline: what T cores give this machine for
// the algorithm at best, the yardstick for BM_Pipeline's W-worker scaling (on a VM, two vCPUs
// need not add up to twice one: shared physical cores, frequency, neighbours).
void BM_DirectThreads(benchmark::State& state) {
  const Alg alg = kAlgs[state.range(0)];
  static std::mutex mu;  // Get() builds its fixtures lazily in a plain map
  const Fixture* f;
  {
    std::lock_guard<std::mutex> lock(mu);
    f = &Get(alg);
  }
  VerifyContext ctx;
  Claims c;
  size_t i = static_cast<size_t>(state.thread_index()) * 512;
  for (auto _ : state) {
    const Status s = f->verifier->Verify(f->tokens[i++ % kTokens], kNow, ctx, &c);
    if (s != Status::kOk) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string(AlgName(alg)));
}

void BM_Pipeline(benchmark::State& state) {
  const Alg alg = kAlgs[state.range(0)];
  const Fixture& f = Get(alg);
  PipelineOptions o;
  o.workers = static_cast<unsigned>(state.range(1));
  o.clock = FixedClock;
  Pipeline p(f.verifier, o);
  CompletionQueue q(1024);
  Completion buf[256];
  constexpr size_t kInFlight = 512;
  uint64_t ticket = 0, failed = 0;
  // Warm-up, untimed: keep every worker busy for 100 ms so that the pool's threads have joined
  // the arena (on a loaded machine that alone can take tens of milliseconds).
  for (const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
       std::chrono::steady_clock::now() < until;) {
    if (q.in_flight() >= kInFlight || p.Submit(f.tokens[ticket % kTokens], ticket, &q) != Status::kOk) {
      q.Wait(buf, 256, std::chrono::milliseconds(1));
    } else {
      ++ticket;
    }
  }
  while (q.in_flight() > 0) q.Wait(buf, 256, std::chrono::milliseconds(100));
  int64_t cpu0 = 0, submitter0 = 0;
  bool first = true;
  for (auto _ : state) {
    if (first) {
      // After the loop's start: the workers are up and idle, the fixture is built.
      cpu0 = ProcessCpuNs();
      submitter0 = ThreadCpuNs();
      first = false;
    }
    while (q.in_flight() >= kInFlight) {
      const size_t n = q.Wait(buf, 256, std::chrono::milliseconds(100));
      for (size_t k = 0; k < n; ++k) failed += buf[k].status != Status::kOk;
    }
    while (p.Submit(f.tokens[ticket % kTokens], ticket, &q) != Status::kOk) {
      const size_t n = q.Wait(buf, 256, std::chrono::milliseconds(1));
      for (size_t k = 0; k < n; ++k) failed += buf[k].status != Status::kOk;
    }
    ++ticket;
  }
  // The tokens still in flight when the timed loop ends were verified during it, mostly; their
  // CPU is counted (slightly against the pipeline), their completion time is not.
  while (q.in_flight() > 0) {
    const size_t n = q.Wait(buf, 256, std::chrono::milliseconds(100));
    for (size_t k = 0; k < n; ++k) failed += buf[k].status != Status::kOk;
  }
  const int64_t submitter_ns = ThreadCpuNs() - submitter0;
  const int64_t cpu_ns = ProcessCpuNs() - cpu0;
  SetCpuPerToken(state, cpu_ns);
  const double tokens = state.iterations() ? static_cast<double>(state.iterations()) : 1.0;
  state.counters["submitter_cpu_ns"] = static_cast<double>(submitter_ns) / tokens;
  state.counters["workers_cpu_ns"] = static_cast<double>(cpu_ns - submitter_ns) / tokens;
  if (failed != 0) state.SkipWithError("a token failed verification");
  const auto st = p.stats();
  state.counters["avg_batch"] = st.batches ? static_cast<double>(st.completed) / static_cast<double>(st.batches) : 0;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string(AlgName(alg)));
}

void BM_PipelineLatency(benchmark::State& state) {
  const Fixture& f = Get(Alg::kHS256);
  PipelineOptions o;
  o.workers = 1;
  o.clock = FixedClock;
  o.max_batch = static_cast<size_t>(state.range(0));
  o.batch_deadline = std::chrono::microseconds(state.range(1));
  Pipeline p(f.verifier, o);
  CompletionQueue q(16);
  Completion c;
  uint64_t ticket = 0;
  // Warm-up, untimed: the worker has joined the arena before the first measured token.
  if (p.Submit(f.tokens[0], ticket++, &q) != Status::kOk) state.SkipWithError("submit");
  while (q.Wait(&c, 1, std::chrono::milliseconds(100)) == 0) {
  }
  std::vector<double> latency_us;
  latency_us.reserve(1 << 20);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    if (p.Submit(f.tokens[ticket % kTokens], ticket, &q) != Status::kOk) state.SkipWithError("submit");
    ++ticket;
    while (q.Poll(&c, 1) == 0) {
    }
    latency_us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (c.status != Status::kOk) state.SkipWithError("verify failed");
  }
  std::sort(latency_us.begin(), latency_us.end());
  auto pct = [&](double quantile) { return latency_us.empty() ? 0.0 : latency_us[static_cast<size_t>(quantile * static_cast<double>(latency_us.size() - 1))]; };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_CacheHit(benchmark::State& state) {
  const Alg alg = kAlgs[state.range(0)];
  const Fixture& f = Get(alg, /*with_revocation=*/true);
  VerifiedTokenCache cache;
  VerifyContext ctx;
  for (const auto& t : f.tokens) {
    Claims c;
    if (f.verifier->Verify(t, kNow, ctx, &c) != Status::kOk) {
      state.SkipWithError("verify failed");
      return;
    }
    cache.Insert(VerifiedToken::From(t, cache.Hash(t), c));
  }
  size_t i = 0;
  for (auto _ : state) {
    const std::string& t = f.tokens[i++ % kTokens];
    Status s;
    const VerifiedToken* e = nullptr;
    const VerifiedTokenCache::ReadGuard guard;
    if (cache.Find(t, cache.Hash(t), kNow, *f.verifier, &s, &e, guard) !=
            VerifiedTokenCache::Lookup::kHit ||
        s != Status::kOk) {
      state.SkipWithError("expected a hit");
    }
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string(AlgName(alg)) + ", 1M revoked ids");
}

// One entry, hit by every benchmark thread.
struct SharedHit {
  SharedHit() : fixture(Get(Alg::kHS256, /*with_revocation=*/true)) {
    VerifyContext ctx;
    Claims c;
    if (fixture.verifier->Verify(fixture.tokens[0], kNow, ctx, &c) != Status::kOk) std::abort();
    cache.Insert(VerifiedToken::From(fixture.tokens[0], cache.Hash(fixture.tokens[0]), c));
  }
  const Fixture& fixture;
  VerifiedTokenCache cache;
};

void BM_CacheHitShared(benchmark::State& state) {
  // Built once, by whichever thread arrives first (thread-safe static initialisation); every
  // thread waits at the loop's start barrier.
  static SharedHit* const shared = new SharedHit();
  const bool pointer_form = state.range(0) == 0;
  const std::string& t = shared->fixture.tokens[0];
  const Verifier& v = *shared->fixture.verifier;
  VerifiedTokenCache& cache = shared->cache;
  for (auto _ : state) {
    Status s;
    VerifiedTokenCache::Lookup r;
    if (pointer_form) {
      const VerifiedToken* e = nullptr;
      const VerifiedTokenCache::ReadGuard guard;
      r = cache.Find(t, cache.Hash(t), kNow, v, &s, &e, guard);
      benchmark::DoNotOptimize(e);
    } else {
      std::shared_ptr<const VerifiedToken> e;
      r = cache.Find(t, cache.Hash(t), kNow, v, &s, &e);
      benchmark::DoNotOptimize(e);
    }
    if (r != VerifiedTokenCache::Lookup::kHit || s != Status::kOk) state.SkipWithError("expected a hit");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(pointer_form ? "guarded pointer" : "shared_ptr");
}

void AlgArgs(benchmark::internal::Benchmark* b) {
  for (int a = 0; a < 4; ++a) b->Arg(a);
}

void PipelineArgs(benchmark::internal::Benchmark* b) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int a = 0; a < 4; ++a) {
    for (int w = 1; w <= cores; w *= 2) b->Args({a, w});
    if ((cores & (cores - 1)) != 0) b->Args({a, cores});
  }
  b->ArgNames({"alg", "workers"});
}

// Real time, as BM_Pipeline: on a shared machine both throughputs then see the same CPU share.
BENCHMARK(BM_Direct)->Apply(AlgArgs)->ArgName("alg")->UseRealTime();
BENCHMARK(BM_DirectThreads)->Arg(0)->Arg(2)->ArgName("alg")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Pipeline)->Apply(PipelineArgs)->UseRealTime();
BENCHMARK(BM_PipelineLatency)
    ->Args({1, 0})->Args({32, 0})->Args({32, 5})->Args({32, 20})->Args({32, 100})
    ->ArgNames({"max_batch", "deadline_us"})->UseRealTime()->Iterations(3000);
BENCHMARK(BM_CacheHit)->Apply(AlgArgs)->ArgName("alg");
BENCHMARK(BM_CacheHitShared)->Arg(0)->Arg(1)->ArgName("shared_ptr")->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
