#include "jwtgate/pipeline.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jwtgate/keys.h"
#include "jwtgate/signer.h"

namespace {

using namespace jwtgate;

constexpr int64_t kNow = 1800000000;
const std::string kSecret(32, 'k');

int64_t FixedClock() { return kNow; }

PipelineOptions TestOptions(unsigned workers) {
  PipelineOptions o;
  o.workers = workers;
  o.clock = FixedClock;
  return o;
}

std::shared_ptr<const Verifier> MakeVerifier(const RevocationCheck* revocation = nullptr,
                                             const std::string& secret = kSecret) {
  KeySet::Builder b;
  REQUIRE(b.AddHmacSecret(std::span(reinterpret_cast<const uint8_t*>(secret.data()), secret.size()),
                          Alg::kHS256, std::string("k1")) == Status::kOk);
  return std::make_shared<Verifier>(b.Build(), VerifierOptions{}, revocation);
}

std::string Token(const std::string& sub, int64_t exp = kNow + 600,
                  const std::string& secret = kSecret, const std::string& jti = "") {
  auto s = Signer::FromSecret(secret, Alg::kHS256);
  REQUIRE(s.ok());
  std::string claims = "{\"sub\":\"" + sub + "\",\"exp\":" + std::to_string(exp);
  if (!jti.empty()) claims += ",\"jti\":\"" + jti + "\"";
  claims += "}";
  auto t = s->Sign(claims, "k1");
  REQUIRE(t.ok());
  return *t;
}

// Revokes by jti, from a set that tests change while the pipeline runs.
class SetRevocation : public RevocationCheck {
 public:
  bool IsRevoked(const Claims& c) const noexcept override {
    return revoked_jti.load(std::memory_order_acquire) != nullptr &&
           *revoked_jti.load(std::memory_order_acquire) == c.jti;
  }
  std::atomic<const std::string*> revoked_jti{nullptr};
};

std::vector<Completion> Drain(CompletionQueue& q, size_t expected) {
  std::vector<Completion> out;
  Completion buf[64];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
    const size_t n = q.Wait(buf, 64, std::chrono::milliseconds(100));
    for (size_t i = 0; i < n; ++i) out.push_back(std::move(buf[i]));
  }
  return out;
}

// What one submitter of a concurrency test saw. Catch2 assertions are not thread-safe:
// submitters record here, the main thread checks with CheckExactlyOnce.
struct SubmitterLog {
  std::map<uint64_t, int> got;  // ticket -> completions
  size_t accepted = 0;
  std::vector<std::string> problems;
  // Records completions; tokens with a ticket divisible by 3 are the expired ones.
  void Take(const Completion* c, size_t n) {
    for (size_t k = 0; k < n; ++k) {
      got[c[k].ticket] += 1;
      const Status want = (c[k].ticket % 3 == 0) ? Status::kExpired : Status::kOk;
      if (c[k].status != want) {
        problems.push_back("ticket " + std::to_string(c[k].ticket) + " got " +
                           std::string(ToString(c[k].status)));
      }
    }
  }
  // Takes q's remaining completions (the pipeline drains on shutdown), for up to 60 s.
  void TakeRest(CompletionQueue& q, Completion* buf, size_t max) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (q.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
      Take(buf, q.Wait(buf, max, std::chrono::milliseconds(50), q.in_flight()));
    }
  }
};

// Every accepted token completed exactly once with its own status, and nothing else did
// (tickets are accepted in order from 0).
void CheckExactlyOnce(const std::vector<SubmitterLog>& logs) {
  for (size_t t = 0; t < logs.size(); ++t) {
    INFO("producer " << t);
    CHECK(logs[t].problems.empty());
    for (const auto& problem : logs[t].problems) UNSCOPED_INFO(problem);
    CHECK(logs[t].got.size() == logs[t].accepted);
    for (const auto& [ticket, count] : logs[t].got) {
      if (count != 1) FAIL("ticket " << ticket << " completed " << count << " times");
      if (ticket >= logs[t].accepted) FAIL("ticket " << ticket << " was never accepted");
    }
  }
}

// Runs `body` on `producers` threads and shuts `p` down `after` their start, concurrently
// with their submissions; returns what each saw once all have finished.
std::vector<SubmitterLog> ProduceThroughShutdown(Pipeline& p, size_t producers,
                                                 std::chrono::milliseconds after,
                                                 const std::function<void(SubmitterLog&)>& body) {
  std::vector<SubmitterLog> logs(producers);
  std::vector<std::thread> threads;
  std::atomic<size_t> started{0};
  for (size_t t = 0; t < producers; ++t) {
    threads.emplace_back([&, t] {
      started.fetch_add(1);
      body(logs[t]);
    });
  }
  while (started.load() < producers) std::this_thread::yield();
  std::this_thread::sleep_for(after);
  p.Shutdown();
  for (auto& th : threads) th.join();
  return logs;
}

}  // namespace

TEST_CASE("Pipeline verifies and completes each token with its own status", "[pipeline]") {
  PipelineOptions o = TestOptions(2);
  o.capture_identity = true;
  Pipeline p(MakeVerifier(), o);
  CompletionQueue q(64);
  const std::vector<std::pair<std::string, Status>> cases = {
      {Token("alice"), Status::kOk},
      {Token("bob", kNow - 100), Status::kExpired},
      {Token("carol", kNow + 600, std::string(32, 'x')), Status::kSignatureInvalid},
      {"not.a.token!", Status::kTokenMalformed},
      {"", Status::kTokenEmpty},
  };
  for (size_t i = 0; i < cases.size(); ++i) REQUIRE(p.Submit(cases[i].first, i, &q) == Status::kOk);
  auto done = Drain(q, cases.size());
  REQUIRE(done.size() == cases.size());
  for (const auto& c : done) {
    INFO("ticket " << c.ticket);
    CHECK(c.status == cases[c.ticket].second);
    if (c.status == Status::kOk) {
      REQUIRE(c.token != nullptr);
      CHECK(c.token->sub == "alice");
    } else {
      CHECK(c.token == nullptr);
    }
  }
}

TEST_CASE("Pipeline verifies identical tokens in a batch once and answers each", "[pipeline]") {
  PipelineOptions o = TestOptions(1);
  // The batch closes when 32 tokens are in (long deadline): all 32 land in one batch.
  o.max_batch = 32;
  o.batch_deadline = std::chrono::seconds(10);
  Pipeline p(MakeVerifier(), o);
  CompletionQueue q(64);
  const std::string t = Token("same");
  for (uint64_t i = 0; i < 32; ++i) REQUIRE(p.Submit(t, i, &q) == Status::kOk);
  auto done = Drain(q, 32);
  REQUIRE(done.size() == 32);
  std::set<uint64_t> tickets;
  for (const auto& c : done) {
    CHECK(c.status == Status::kOk);
    tickets.insert(c.ticket);
  }
  CHECK(tickets.size() == 32);
  CHECK(p.stats().deduplicated == 31);
  CHECK(p.stats().batches == 1);
}

TEST_CASE("Pipeline closes a batch at its work budget, or at max_batch without one",
          "[pipeline]") {
  const std::string t = Token("budget");
  // One worker, a deadline no test waits for: batches close on size or budget only.
  auto options = [](size_t max_batch, std::chrono::nanoseconds budget) {
    PipelineOptions o = TestOptions(1);
    o.max_batch = max_batch;
    o.batch_budget = budget;
    o.batch_deadline = std::chrono::seconds(10);
    return o;
  };
  SECTION("a budget below one token's work: batches of one after the first") {
    Pipeline p(MakeVerifier(), options(256, std::chrono::nanoseconds(1)));
    CompletionQueue q(64);
    // The first batch, before any measurement, closes at 32 tokens.
    for (uint64_t i = 0; i < 32; ++i) REQUIRE(p.Submit(t, i, &q) == Status::kOk);
    REQUIRE(Drain(q, 32).size() == 32);
    CHECK(p.stats().batches == 1);
    for (uint64_t i = 32; i < 42; ++i) REQUIRE(p.Submit(t, i, &q) == Status::kOk);
    REQUIRE(Drain(q, 10).size() == 10);
    CHECK(p.stats().batches == 11);
  }
  SECTION("no budget: the batch waits for max_batch tokens") {
    Pipeline p(MakeVerifier(), options(64, std::chrono::nanoseconds(0)));
    CompletionQueue q(64);
    for (uint64_t i = 0; i < 64; ++i) REQUIRE(p.Submit(t, i, &q) == Status::kOk);
    REQUIRE(Drain(q, 64).size() == 64);
    CHECK(p.stats().batches == 1);
  }
}

TEST_CASE("Pipeline applies back-pressure instead of growing", "[pipeline]") {
  PipelineOptions o = TestOptions(1);
  Pipeline p(MakeVerifier(), o);
  CompletionQueue q(8);  // at most 8 in flight for this submitter
  const std::string t = Token("x");
  int accepted = 0, overloaded = 0;
  for (uint64_t i = 0; i < 64; ++i) {
    const Status s = p.Submit(t, i, &q);
    if (s == Status::kOk) ++accepted;
    else if (s == Status::kOverloaded) ++overloaded;
    else FAIL("unexpected status " << ToString(s));
  }
  CHECK(accepted <= 8);
  CHECK(overloaded == 64 - accepted);
  CHECK(p.stats().overloaded == static_cast<uint64_t>(overloaded));
  auto done = Drain(q, static_cast<size_t>(accepted));
  CHECK(done.size() == static_cast<size_t>(accepted));
  // Polled completions free their slots: the submitter can submit again.
  CHECK(p.Submit(t, 1000, &q) == Status::kOk);
  CHECK(Drain(q, 1).size() == 1);
}

TEST_CASE("Pipeline shutdown drains: every accepted token gets exactly one completion",
          "[pipeline][concurrency]") {
  constexpr size_t kProducers = 3;
  constexpr uint64_t kPerProducer = 3000;
  PipelineOptions o = TestOptions(2);
  auto p = std::make_unique<Pipeline>(MakeVerifier(), o);
  const std::string good = Token("g");
  const std::string bad = Token("b", kNow - 1000);
  CheckExactlyOnce(ProduceThroughShutdown(*p, kProducers, std::chrono::milliseconds(20), [&](SubmitterLog& log) {
    CompletionQueue q(256);
    Completion buf[64];
    for (uint64_t i = 0; i < kPerProducer; ++i) {
      const std::string& tok = (i % 3 == 0) ? bad : good;
      Status s;
      while ((s = p->Submit(tok, i, &q)) == Status::kOverloaded) {
        const size_t n = q.Poll(buf, 64);
        log.Take(buf, n);
        if (n == 0) std::this_thread::yield();
      }
      if (s == Status::kShuttingDown) break;
      if (s != Status::kOk) {
        log.problems.push_back("submit returned " + std::string(ToString(s)));
        break;
      }
      ++log.accepted;
      log.Take(buf, q.Poll(buf, 64));
    }
    log.TakeRest(q, buf, 64);
  }));
  // After shutdown nothing is accepted.
  CompletionQueue q(4);
  CHECK(p->Submit(good, 1, &q) == Status::kShuttingDown);
}

TEST_CASE("Pipeline with cache: hits re-check revocation and expiry; reload clears",
          "[pipeline][cache]") {
  SetRevocation revocation;
  static std::atomic<int64_t> now{kNow};
  PipelineOptions o;
  o.workers = 1;
  o.clock = [] { return now.load(); };
  VerifiedTokenCache cache(CacheOptions{1024, 4, 42});
  o.cache = &cache;
  Pipeline p(MakeVerifier(&revocation), o);
  CompletionQueue q(16);
  const std::string t = Token("u", kNow + 100, kSecret, "jti-1");

  auto one = [&](const std::string& tok) {
    REQUIRE(p.Submit(tok, 7, &q) == Status::kOk);
    auto d = Drain(q, 1);
    REQUIRE(d.size() == 1);
    return d[0].status;
  };
  CHECK(one(t) == Status::kOk);  // miss, verified, inserted
  CHECK(cache.stats().inserts == 1);
  CHECK(one(t) == Status::kOk);  // hit
  CHECK(cache.stats().hits == 1);
  const std::string revoked = "jti-1";
  revocation.revoked_jti.store(&revoked);
  CHECK(one(t) == Status::kRevoked);  // revoked after caching: the hit re-checks
  revocation.revoked_jti.store(nullptr);
  CHECK(one(t) == Status::kOk);  // evicted on the failed re-check, verified again
  now.store(kNow + 100 + 31);   // past exp + 30 s leeway
  CHECK(one(t) == Status::kExpired);
  now.store(kNow);
  CHECK(one(t) == Status::kOk);
  // Key reload: the new verifier does not know the old key; the cache must not answer.
  p.SetVerifier(MakeVerifier(&revocation, std::string(32, 'n')));
  CHECK(cache.stats().entries == 0);
  CHECK(one(t) == Status::kSignatureInvalid);
}

TEST_CASE("Pipeline answers each submitter of a shared batch once, in submission order",
          "[pipeline]") {
  PipelineOptions o = TestOptions(1);
  // One batch of 32 holding both submitters' tokens, interleaved.
  o.max_batch = 32;
  o.batch_deadline = std::chrono::seconds(10);
  Pipeline p(MakeVerifier(), o);
  CompletionQueue a(32), b(32);
  const std::string good = Token("g");
  const std::string expired = Token("e", kNow - 1000);
  for (uint64_t i = 0; i < 32; ++i) {
    REQUIRE(p.Submit(i % 5 == 0 ? expired : good, i, (i % 2 == 0) ? &a : &b) == Status::kOk);
  }
  for (CompletionQueue* q : {&a, &b}) {
    const auto done = Drain(*q, 16);
    REQUIRE(done.size() == 16);
    for (size_t k = 0; k < done.size(); ++k) {
      const uint64_t want = 2 * k + (q == &a ? 0 : 1);
      CHECK(done[k].ticket == want);
      CHECK(done[k].status == (want % 5 == 0 ? Status::kExpired : Status::kOk));
    }
    CHECK(q->in_flight() == 0);
  }
  CHECK(p.stats().batches == 1);
}

TEST_CASE("CompletionQueue can be destroyed right after its last completion is polled",
          "[pipeline][concurrency]") {
  // Guards the delivery path: a worker still returning from Deliver must not touch a queue
  // whose owner has polled everything and destroyed it.
  PipelineOptions o = TestOptions(2);
  o.batch_deadline = std::chrono::nanoseconds(0);
  Pipeline p(MakeVerifier(), o);
  const std::string t = Token("d");
  for (int round = 0; round < 300; ++round) {
    auto q = std::make_unique<CompletionQueue>(8, /*signal=*/round % 2 == 0);
    size_t accepted = 0;
    for (uint64_t i = 0; i < 4; ++i) accepted += p.Submit(t, i, q.get()) == Status::kOk;
    REQUIRE(accepted == 4);
    Completion buf[8];
    size_t got = 0;
    while (got < accepted) got += q->Poll(buf + got, 8 - got);
    for (size_t k = 0; k < got; ++k) REQUIRE(buf[k].status == Status::kOk);
    q.reset();
  }
}

TEST_CASE("SubmitBatch takes the prefix that fits and says why it refused the rest",
          "[pipeline]") {
  PipelineOptions o = TestOptions(1);
  Pipeline p(MakeVerifier(), o);
  const std::string good = Token("g");
  const std::string expired = Token("e", kNow - 1000);
  std::vector<Pipeline::Submission> batch;
  for (uint64_t i = 0; i < 20; ++i) batch.push_back({i % 4 == 0 ? expired : good, 100 + i});

  SECTION("the submitter's queue bounds the run") {
    CompletionQueue q(8);
    Status why = Status::kOk;
    REQUIRE(p.SubmitBatch(batch.data(), batch.size(), &q, &why) == 8);
    CHECK(why == Status::kOverloaded);
    CHECK(p.stats().overloaded == 12);
    const auto done = Drain(q, 8);
    REQUIRE(done.size() == 8);
    for (size_t k = 0; k < done.size(); ++k) {
      CHECK(done[k].ticket == 100 + k);  // the prefix, in order
      CHECK(done[k].status == (k % 4 == 0 ? Status::kExpired : Status::kOk));
    }
    CHECK(q.in_flight() == 0);
  }
  SECTION("a run that fits is taken whole and `why` is left alone") {
    CompletionQueue q(32);
    Status why = Status::kInternalError;
    REQUIRE(p.SubmitBatch(batch.data(), batch.size(), &q, &why) == 20);
    CHECK(why == Status::kInternalError);
    CHECK(Drain(q, 20).size() == 20);
    CHECK(p.SubmitBatch(batch.data(), 0, &q, &why) == 0);
  }
  SECTION("after shutdown nothing is taken") {
    p.Shutdown();
    CompletionQueue q(32);
    Status why = Status::kOk;
    CHECK(p.SubmitBatch(batch.data(), batch.size(), &q, &why) == 0);
    CHECK(why == Status::kShuttingDown);
    CHECK(q.in_flight() == 0);
  }
}

TEST_CASE("CompletionQueue::Wait returns once min_count completions are there", "[pipeline]") {
  PipelineOptions o = TestOptions(2);
  o.max_batch = 4;  // many deliveries, so that a plain Wait would return early
  Pipeline p(MakeVerifier(), o);
  const std::string t = Token("w");
  CompletionQueue q(64);
  std::vector<Pipeline::Submission> batch;
  for (uint64_t i = 0; i < 40; ++i) batch.push_back({t, i});
  REQUIRE(p.SubmitBatch(batch.data(), batch.size(), &q) == 40);
  Completion buf[64];

  SECTION("all 40 in one call") {
    CHECK(q.Wait(buf, 64, std::chrono::seconds(60), 40) == 40);
  }
  SECTION("min_count above what is in flight waits for what is in flight, not the timeout") {
    const auto start = std::chrono::steady_clock::now();
    CHECK(q.Wait(buf, 64, std::chrono::seconds(60), 1000) == 40);
    // Bounded, not timed: a Wait that ignored in_flight() would sleep the full 60 s.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
  }
  SECTION("min_count above max is capped at max") {
    size_t got = 0;
    while (got < 40) {
      const size_t n = q.Wait(buf, 8, std::chrono::seconds(60), 1000);
      REQUIRE(n == 8);
      got += n;
    }
    CHECK(q.in_flight() == 0);
  }
}

TEST_CASE("SubmitBatch and Wait(min_count) from several submitters: each token completed once",
          "[pipeline][concurrency]") {
  constexpr size_t kProducers = 3;
  constexpr uint64_t kPerProducer = 4000;
  PipelineOptions o = TestOptions(2);
  o.ring_capacity = 256;  // small: the ring fills and SubmitBatch takes partial runs
  auto p = std::make_unique<Pipeline>(MakeVerifier(), o);
  const std::string good = Token("g");
  const std::string bad = Token("b", kNow - 1000);
  CheckExactlyOnce(ProduceThroughShutdown(*p, kProducers, std::chrono::milliseconds(30), [&](SubmitterLog& log) {
    CompletionQueue q(512);
    Completion buf[512];
    std::vector<Pipeline::Submission> run;
    bool open = true;
    while (open && log.accepted < kPerProducer) {
      run.clear();
      for (uint64_t i = log.accepted; i < std::min<uint64_t>(log.accepted + 97, kPerProducer); ++i) {
        run.push_back({(i % 3 == 0) ? bad : good, i});
      }
      Status why = Status::kOk;
      const size_t k = p->SubmitBatch(run.data(), run.size(), &q, &why);
      log.accepted += k;
      if (k < run.size()) {
        if (why == Status::kShuttingDown) open = false;
        else if (why != Status::kOverloaded) log.problems.push_back("why " + std::string(ToString(why)));
      }
      // Wait for half of what is in flight: a worker wakes this thread only then.
      if (q.in_flight() > 256 || k == 0) {
        log.Take(buf, q.Wait(buf, 512, std::chrono::milliseconds(50), q.in_flight() / 2));
      }
    }
    log.TakeRest(q, buf, 512);
  }));
}
