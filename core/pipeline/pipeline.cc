#include "jwtgate/pipeline.h"

#include <linux/futex.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <functional>
#include <iterator>
#include <mutex>
#include <thread>
#include <utility>

#include "base/cache_line.h"
#include "base/eventfd.h"
#include "base/thread_annotations.h"
#include "pipeline/mpmc_ring.h"
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace jwtgate {
namespace {

inline void CpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

int64_t SystemClock() { return static_cast<int64_t>(std::time(nullptr)); }

// futex on a 32-bit word with a timeout (std::atomic::wait has none).
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds timeout) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr,
          0);
}

void FutexWake(std::atomic<uint32_t>* word, int count) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr,
          0);
}

// How long a waiting submitter polls before it sleeps.
constexpr std::chrono::nanoseconds kWaitSpin = std::chrono::microseconds(4);
constexpr std::chrono::nanoseconds kMinWaitSpin = std::chrono::nanoseconds(250);

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CompletionQueue

struct CompletionQueue::Rep {
  explicit Rep(size_t capacity) : ring(capacity) {}
  pipeline::MpmcRing<Completion> ring;
  alignas(base::kCacheLine) std::atomic<uint32_t> seq{0};  // bumped once per delivery
  // Completions delivered and not yet polled. Deliver adds after its pushes are published and
  // Poll subtracts after popping, so it never counts more than the ring holds (it may go
  // briefly negative when a Poll overtakes the add of the completions it popped).
  std::atomic<int64_t> ready{0};
  // 0, or the count the owner sleeps for in Wait: a worker wakes it only once `ready`
  // reaches it, and claims the wake-up by swapping this to 0 (one system call per sleep).
  std::atomic<size_t> waiting{0};
  std::atomic<bool> signalled{false};  // eventfd holds a count
  // Owner only: how long Wait polls before sleeping. Doubled when a poll caught the
  // completion, halved when it had to sleep anyway, so that a submitter whose completions
  // come in microseconds keeps spinning and one that waits for whole batches hardly spins.
  std::chrono::nanoseconds spin{kWaitSpin};
  // Deliveries still touching this queue after their completions became visible; the
  // destructor waits for them (the owner may destroy the queue right after its last Poll).
  alignas(base::kCacheLine) std::atomic<uint32_t> delivering{0};
};

CompletionQueue::CompletionQueue(size_t capacity, bool signal)
    : rep_(std::make_unique<Rep>(capacity)) {
  if (signal) {
    event_fd_ = base::OpenEventFd();
  }
}

CompletionQueue::~CompletionQueue() {
  // acquire: pairs with the release decrement at the end of Deliver, so the worker is done
  // with every field before the queue goes away.
  while (rep_->delivering.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  if (event_fd_ >= 0) ::close(event_fd_);
}

size_t CompletionQueue::capacity() const noexcept { return rep_->ring.capacity(); }

bool CompletionQueue::Reserve() noexcept { return ReserveUpTo(1) == 1; }

size_t CompletionQueue::ReserveUpTo(size_t n) noexcept {
  // relaxed: the count only bounds how many completions can be outstanding; the ring itself
  // orders the data.
  const size_t cap = rep_->ring.capacity();
  size_t cur = in_flight_.load(std::memory_order_relaxed);
  size_t k;
  do {
    if (cur >= cap) return 0;
    k = std::min(n, cap - cur);
  } while (!in_flight_.compare_exchange_weak(cur, cur + k, std::memory_order_relaxed));
  return k;
}

void CompletionQueue::Unreserve(size_t n) noexcept {
  in_flight_.fetch_sub(n, std::memory_order_relaxed);
}

void CompletionQueue::Deliver(Completion* c, size_t n) noexcept {
  // relaxed: sequenced before the ring's release stores, so an owner that has polled any of
  // these completions also sees this increment.
  rep_->delivering.fetch_add(1, std::memory_order_relaxed);
  const auto count = static_cast<int64_t>(n);
  // Slots were reserved at Submit and are released only after Poll moved an element out, so
  // the ring always has room; the loop covers a consumer that is still mid-pop.
  while (n != 0) {
    const size_t k = rep_->ring.TryPushBulk(c, n);
    c += k;
    n -= k;
    if (k == 0) CpuRelax();
  }
  // After the pushes: `ready` never counts a completion that is not yet published.
  rep_->ready.fetch_add(count, std::memory_order_release);
  // One wake-up for the whole run, not one per completion.
  rep_->seq.fetch_add(1, std::memory_order_release);
  // seq_cst fence: orders the pushes and the count before reading `waiting` (pairs with the
  // fence in Wait), so a waiter either sees enough completions or is woken.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (size_t want = rep_->waiting.load(std::memory_order_relaxed);
      want != 0 && rep_->ready.load(std::memory_order_relaxed) >= static_cast<int64_t>(want) &&
      rep_->waiting.compare_exchange_strong(want, 0, std::memory_order_relaxed)) {
    FutexWakeAll(&rep_->seq);
  }
  if (event_fd_ >= 0 && !rep_->signalled.exchange(true, std::memory_order_acq_rel)) {
    base::SignalEventFd(event_fd_);
  }
  // release: the destructor (acquire) runs after every access above.
  rep_->delivering.fetch_sub(1, std::memory_order_release);
}

size_t CompletionQueue::Poll(Completion* out, size_t max) noexcept {
  if (event_fd_ >= 0 && rep_->signalled.load(std::memory_order_acquire)) {
    base::DrainEventFd(event_fd_);
    // Cleared before polling: a push after this point signals again.
    rep_->signalled.store(false, std::memory_order_release);
  }
  const size_t n = rep_->ring.TryPopBulk(out, max);
  if (n != 0) {
    rep_->ready.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
    in_flight_.fetch_sub(n, std::memory_order_relaxed);
  }
  return n;
}

size_t CompletionQueue::Wait(Completion* out, size_t max, std::chrono::nanoseconds timeout,
                             size_t min_count) noexcept {
  if (max == 0) return 0;
  Rep& r = *rep_;
  // Every reserved slot yields a completion, so waiting for at most in_flight() of them
  // always ends.
  const size_t want = std::max<size_t>(1, std::min({min_count, max, in_flight()}));
  auto enough = [&r, want] {
    // acquire: pairs with Deliver's release add; the counted completions are published.
    return r.ready.load(std::memory_order_acquire) >= static_cast<int64_t>(want);
  };
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  // Spin first (for Rep::spin, at most kWaitSpin): a batch that is about to complete arrives
  // within microseconds, and a futex sleep costs both this thread and the waking worker a
  // system call (and, on a virtual machine, an inter-processor interrupt).
  const auto spin_until = start + std::min(timeout, r.spin);
  bool ok = false;
  for (unsigned i = 1;; ++i) {
    if (enough()) {
      if (i > 1) r.spin = std::min(r.spin * 2, kWaitSpin);
      ok = true;
      break;
    }
    if (i % 16 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
    CpuRelax();
  }
  if (!ok) {
    r.spin = std::max(r.spin / 2, kMinWaitSpin);
    for (;;) {
      const uint32_t s = r.seq.load(std::memory_order_acquire);
      r.waiting.store(want, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (enough()) break;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      // Returns at once if a delivery bumped seq since it was read.
      FutexWait(&r.seq, s, deadline - now);
    }
    r.waiting.store(0, std::memory_order_relaxed);
  }
  // The counted completions are published, but a run can sit behind cells that a delivery
  // still in progress has claimed and not yet filled; collect until `want` (or the deadline).
  size_t n = Poll(out, max);
  for (unsigned i = 1; n < want && n < max; ++i) {
    if (i % 16 == 0 && std::chrono::steady_clock::now() >= deadline) break;
    CpuRelax();
    n += Poll(out + n, max - n);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Pipeline

namespace {

struct Item {
  const char* data = nullptr;
  size_t size = 0;
  uint64_t ticket = 0;
  CompletionQueue* target = nullptr;
};

constexpr size_t kMaxBatch = 256;
// A worker's batches before it has measured its time per token.
constexpr size_t kFirstBatch = 32;
// A worker that finds the ring empty polls this many times (a pause each, ~40 ns here: about
// 20 us) before it sleeps; longer spins burned more CPU than the wake-up they saved.
constexpr int kSpinsBeforeSleep = 512;

// Revocation-relevant claims of one verified token, copied out of the VerifyContext (whose
// views the next Verify overwrites) so that the batch can be checked at once.
using RevocationText = std::array<char, 384>;

bool CopyForRevocation(const Claims& c, Claims* out, RevocationText* text) {
  const size_t total = c.jti.size() + c.sub.size() + c.iss.size();
  if (total > text->size()) return false;
  *out = c;
  char* o = text->data();
  auto copy = [&o](std::string_view s) {
    if (!s.empty()) std::memcpy(o, s.data(), s.size());
    std::string_view v(o, s.size());
    o += s.size();
    return v;
  };
  out->jti = copy(c.jti);
  out->sub = copy(c.sub);
  out->iss = copy(c.iss);
  out->kid = {};
  out->typ = {};
  out->payload_json = {};
  return true;
}

// A worker's sleep word: 1 while it is (about to be) asleep on it. A waker claims a sleeping
// worker by swapping it to 0, so that each sleep costs submitters one wake-up, not one per
// Submit until the worker is back.
struct alignas(base::kCacheLine) WorkerSleep {
  std::atomic<uint32_t> asleep{0};
};

// Sort key that puts identical tokens next to each other: the token's last 8 bytes (the tail
// of the signature, which differs between distinct tokens) and its length. Equality is then
// decided by memcmp; distinct tokens that share a key are merely not de-duplicated. Hashing
// the whole token instead cost about 3% of a worker's time on HS256.
uint64_t DedupKey(std::string_view tok) noexcept {
  uint64_t tail = 0;
  const size_t k = std::min<size_t>(tok.size(), sizeof tail);
  if (k != 0) std::memcpy(&tail, tok.data() + tok.size() - k, k);
  return tail ^ (static_cast<uint64_t>(tok.size()) * 0x9E3779B97F4A7C15ull);
}

struct alignas(base::kCacheLine) WorkerStats {
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> deduplicated{0};
  std::atomic<uint64_t> cache_hits{0};
};

// One worker's per-batch arrays, allocated once (max_batch entries each): a batch touches
// only the entries it uses, and nothing on the batch path allocates.
struct BatchScratch {
  explicit BatchScratch(size_t n)
      : items(new Item[n]),
        status(new Status[n]),
        identity(new std::shared_ptr<const VerifiedToken>[n]),
        hash(new uint64_t[n]),
        group(new uint64_t[n]),
        order(new uint16_t[n]),
        dup_of(new int16_t[n]),
        done(new bool[n]),
        views(new std::string_view[n]),
        lookups(new VerifiedTokenCache::Lookup[n]),
        entries(new const VerifiedToken*[n]),
        revocation_claims(new Claims[n]),
        revocation_text(new RevocationText[n]),
        revocation_index(new uint16_t[n]),
        revoked(new bool[n]),
        completions(new Completion[n]),
        by_target(new uint16_t[n]) {}
  std::unique_ptr<Item[]> items;
  std::unique_ptr<Status[]> status;
  std::unique_ptr<std::shared_ptr<const VerifiedToken>[]> identity;
  std::unique_ptr<uint64_t[]> hash;
  std::unique_ptr<uint64_t[]> group;
  std::unique_ptr<uint16_t[]> order;
  std::unique_ptr<int16_t[]> dup_of;  // index of the identical token verified instead
  std::unique_ptr<bool[]> done;       // answered by the cache
  // The cache's batch lookup: the tokens, its verdicts, its entries (unused: `identity` holds
  // the shared references).
  std::unique_ptr<std::string_view[]> views;
  std::unique_ptr<VerifiedTokenCache::Lookup[]> lookups;
  std::unique_ptr<const VerifiedToken*[]> entries;
  std::unique_ptr<Claims[]> revocation_claims;
  std::unique_ptr<RevocationText[]> revocation_text;
  std::unique_ptr<uint16_t[]> revocation_index;
  std::unique_ptr<bool[]> revoked;
  std::unique_ptr<Completion[]> completions;
  std::unique_ptr<uint16_t[]> by_target;
};

}  // namespace

struct Pipeline::Rep {
  Rep(std::shared_ptr<const Verifier> v, PipelineOptions o)
      : options(std::move(o)),
        ring(o.ring_capacity),
        verifier(std::move(v)),
        workers(o.workers != 0 ? o.workers : std::max(1u, std::thread::hardware_concurrency())),
        // TBB's default pool has cores - 1 workers; the arena needs one thread per worker loop
        // (no slot is reserved for an external thread).
        parallelism(tbb::global_control::max_allowed_parallelism, workers + 1),
        arena(static_cast<int>(workers), 0),
        stats(new WorkerStats[workers]),
        sleep(new WorkerSleep[workers]) {
    options.max_batch = std::clamp<size_t>(options.max_batch, 1, kMaxBatch);
    if (options.clock == nullptr) options.clock = SystemClock;
  }

  void WorkerLoop(unsigned id);
  size_t PopOrSleep(unsigned id, Item* items, size_t max);
  bool WakeOne() noexcept;  // false: no worker was asleep
  void ProcessBatch(size_t n, BatchScratch& b, VerifyContext& ctx, WorkerStats& ws);
  void Complete(size_t n, BatchScratch& b, bool capture);

  PipelineOptions options;
  pipeline::MpmcRing<Item> ring;
  // Published under a mutex taken once per batch (not per token): a plain, sanitizer-visible
  // hand-over for hot reload.
  std::shared_ptr<const Verifier> CurrentVerifier() const {
    base::MutexLock lock(&verifier_mu);
    return verifier;
  }
  mutable base::Mutex verifier_mu;
  std::shared_ptr<const Verifier> verifier JWTGATE_GUARDED_BY(verifier_mu);
  unsigned workers;
  tbb::global_control parallelism;
  tbb::task_arena arena;
  std::unique_ptr<WorkerStats[]> stats;
  std::unique_ptr<WorkerSleep[]> sleep;

  // Written by every Submit (a single submitter keeps this line to itself).
  alignas(base::kCacheLine) std::atomic<bool> accepting{true};
  std::atomic<int> active_submits{0};
  std::atomic<uint64_t> overloaded{0};
  // Read by every Submit, written only when a worker sleeps or wakes.
  alignas(base::kCacheLine) std::atomic<int> sleepers{0};
  std::atomic<bool> stopping{false};
  alignas(base::kCacheLine) std::atomic<uint32_t> alive{0};
  std::atomic<bool> shut_down{false};
};

Pipeline::Pipeline(std::shared_ptr<const Verifier> verifier, PipelineOptions options)
    : rep_(std::make_unique<Rep>(std::move(verifier), std::move(options))) {
  Rep* r = rep_.get();
  r->alive.store(r->workers, std::memory_order_relaxed);
  for (unsigned i = 0; i < r->workers; ++i) {
    r->arena.enqueue([r, i] { r->WorkerLoop(i); });
  }
}

Pipeline::~Pipeline() { Shutdown(); }

Status Pipeline::Submit(std::string_view token, uint64_t ticket, CompletionQueue* target) noexcept {
  Rep& r = *rep_;
  // seq_cst pair with Shutdown: either this Submit sees accepting == false, or Shutdown sees
  // active_submits > 0 and waits for it.
  r.active_submits.fetch_add(1, std::memory_order_seq_cst);
  if (!r.accepting.load(std::memory_order_seq_cst)) {
    r.active_submits.fetch_sub(1, std::memory_order_release);
    return Status::kShuttingDown;
  }
  if (!target->Reserve()) {
    r.active_submits.fetch_sub(1, std::memory_order_release);
    r.overloaded.fetch_add(1, std::memory_order_relaxed);
    return Status::kOverloaded;
  }
  if (!r.ring.TryPush(Item{token.data(), token.size(), ticket, target})) {
    target->Unreserve();
    r.active_submits.fetch_sub(1, std::memory_order_release);
    r.overloaded.fetch_add(1, std::memory_order_relaxed);
    return Status::kOverloaded;
  }
  // seq_cst fence: the push is ordered before the read of `sleepers` (pairs with the fence
  // in PopOrSleep), so a worker going to sleep either sees this item or is woken.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (r.sleepers.load(std::memory_order_relaxed) > 0) r.WakeOne();
  // release: the push happens-before Shutdown's observation of active_submits == 0.
  r.active_submits.fetch_sub(1, std::memory_order_release);
  return Status::kOk;
}

size_t Pipeline::SubmitBatch(const Submission* items, size_t n, CompletionQueue* target,
                             Status* why) noexcept {
  if (n == 0) return 0;
  Rep& r = *rep_;
  // seq_cst pair with Shutdown, as in Submit.
  r.active_submits.fetch_add(1, std::memory_order_seq_cst);
  if (!r.accepting.load(std::memory_order_seq_cst)) {
    r.active_submits.fetch_sub(1, std::memory_order_release);
    if (why != nullptr) *why = Status::kShuttingDown;
    return 0;
  }
  const size_t reserved = target->ReserveUpTo(n);
  size_t done = 0;
  // Converted and pushed in chunks (one ring claim each), so the stack stays small.
  Item chunk[64];
  while (done < reserved) {
    const size_t m = std::min(reserved - done, std::size(chunk));
    for (size_t i = 0; i < m; ++i) {
      const Submission& x = items[done + i];
      chunk[i] = Item{x.token.data(), x.token.size(), x.ticket, target};
    }
    const size_t k = r.ring.TryPushBulk(chunk, m);
    done += k;
    if (k < m) break;  // ring full
  }
  if (done < reserved) target->Unreserve(reserved - done);
  if (done < n) {
    r.overloaded.fetch_add(n - done, std::memory_order_relaxed);
    if (why != nullptr) *why = Status::kOverloaded;
  }
  if (done != 0) {
    // seq_cst fence: as in Submit, pairs with the fence in PopOrSleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // One sleeping worker per token at most: a run can keep that many busy.
    for (size_t w = 0; w < done && r.sleepers.load(std::memory_order_relaxed) > 0; ++w) {
      if (!r.WakeOne()) break;
    }
  }
  r.active_submits.fetch_sub(1, std::memory_order_release);
  return done;
}

void Pipeline::SetVerifier(std::shared_ptr<const Verifier> verifier) {
  std::shared_ptr<const Verifier> old;
  {
    base::MutexLock lock(&rep_->verifier_mu);
    old = std::exchange(rep_->verifier, std::move(verifier));
  }
  if (rep_->options.cache != nullptr) rep_->options.cache->Clear();
}

void Pipeline::Shutdown() {
  Rep& r = *rep_;
  if (r.shut_down.exchange(true, std::memory_order_acq_rel)) return;
  r.accepting.store(false, std::memory_order_seq_cst);
  while (r.active_submits.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  // No Submit can push from here on; workers drain the ring, then see `stopping`.
  r.stopping.store(true, std::memory_order_seq_cst);
  for (unsigned i = 0; i < r.workers; ++i) {
    // seq_cst: a worker that stored asleep = 1 before this either sees `stopping` or finds
    // its word at 0 when it calls FutexWait.
    r.sleep[i].asleep.exchange(0, std::memory_order_seq_cst);
    FutexWake(&r.sleep[i].asleep, 1);
  }
  for (;;) {
    const uint32_t a = r.alive.load(std::memory_order_acquire);
    if (a == 0) break;
    FutexWait(&r.alive, a, std::chrono::milliseconds(100));
  }
}

Pipeline::Stats Pipeline::stats() const noexcept {
  const Rep& r = *rep_;
  Stats s;
  s.workers = r.workers;
  s.overloaded = r.overloaded.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < r.workers; ++i) {
    s.completed += r.stats[i].completed.load(std::memory_order_relaxed);
    s.batches += r.stats[i].batches.load(std::memory_order_relaxed);
    s.deduplicated += r.stats[i].deduplicated.load(std::memory_order_relaxed);
    s.cache_hits += r.stats[i].cache_hits.load(std::memory_order_relaxed);
  }
  s.queue_depth = r.ring.SizeApprox();
  s.submitted = s.completed + s.queue_depth;
  return s;
}

bool Pipeline::Rep::WakeOne() noexcept {
  for (unsigned i = 0; i < workers; ++i) {
    std::atomic<uint32_t>& word = sleep[i].asleep;
    // acq_rel: claims this sleeper for this waker alone; later Submits see 0 and skip it.
    if (word.load(std::memory_order_relaxed) == 1 &&
        word.exchange(0, std::memory_order_acq_rel) == 1) {
      FutexWake(&word, 1);
      return true;
    }
  }
  return false;
}

// Takes up to `max` items off the ring, sleeping while it is empty. Returns 0 only when the
// pipeline is stopping and the ring is drained.
size_t Pipeline::Rep::PopOrSleep(unsigned id, Item* items, size_t max) {
  std::atomic<uint32_t>& word = sleep[id].asleep;
  for (int spin = 0;; ++spin) {
    if (size_t n = ring.TryPopBulk(items, max); n != 0) return n;
    if (stopping.load(std::memory_order_acquire)) return ring.TryPopBulk(items, max);
    if (spin < kSpinsBeforeSleep) {
      CpuRelax();
      continue;
    }
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    word.store(1, std::memory_order_seq_cst);
    // seq_cst fence: pairs with the fence in Submit; either that Submit sees this worker
    // asleep (and wakes it), or the pop below sees its item.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    size_t n = ring.TryPopBulk(items, max);
    // The timeout is a safety net only; wake-ups come from Submit and Shutdown.
    if (n == 0 && !stopping.load(std::memory_order_seq_cst)) {
      FutexWait(&word, 1, std::chrono::milliseconds(50));
    }
    word.store(0, std::memory_order_relaxed);
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    if (n != 0) return n;
    spin = 0;
  }
}

void Pipeline::Rep::WorkerLoop(unsigned id) {
  WorkerStats& ws = stats[id];
  {
    VerifyContext ctx;
    BatchScratch b(options.max_batch);
    const auto budget_ns = static_cast<double>(options.batch_budget.count());
    // Running average of this worker's time per token over its recent batches (0: none yet).
    double ns_per_token = 0;
    for (;;) {
      // The batch size the budget allows at the current cost per token.
      size_t max = options.max_batch;
      if (budget_ns > 0) {
        max = ns_per_token > 0
                  ? std::clamp<size_t>(static_cast<size_t>(budget_ns / ns_per_token), 1, max)
                  : std::min(max, kFirstBatch);
      }
      size_t n = PopOrSleep(id, b.items.get(), max);
      if (n == 0) break;
      // The batch closes when full or at the deadline, whichever comes first.
      if (n < max && options.batch_deadline.count() > 0) {
        const auto deadline = std::chrono::steady_clock::now() + options.batch_deadline;
        for (unsigned i = 1; n < max; ++i) {
          if (size_t k = ring.TryPopBulk(b.items.get() + n, max - n); k != 0) {
            n += k;
            continue;
          }
          if (i % 8 == 0 && std::chrono::steady_clock::now() >= deadline) break;
          CpuRelax();
        }
      }
      const auto start = std::chrono::steady_clock::now();
      ProcessBatch(n, b, ctx, ws);
      if (budget_ns > 0) {
        const std::chrono::duration<double, std::nano> took =
            std::chrono::steady_clock::now() - start;
        const double per = took.count() / static_cast<double>(n);
        ns_per_token = ns_per_token > 0 ? 0.75 * ns_per_token + 0.25 * per : per;
      }
    }
  }
  if (alive.fetch_sub(1, std::memory_order_acq_rel) == 1) FutexWakeAll(&alive);
}

void Pipeline::Rep::ProcessBatch(size_t n, BatchScratch& b, VerifyContext& ctx, WorkerStats& ws) {
  const int64_t now = options.clock();
  const std::shared_ptr<const Verifier> v = CurrentVerifier();
  VerifiedTokenCache* cache = options.cache;
  const bool capture = cache != nullptr || options.capture_identity;
  const Item* items = b.items.get();
  Status* status = b.status.get();
  std::shared_ptr<const VerifiedToken>* identity = b.identity.get();
  uint64_t* hash = b.hash.get();
  uint64_t* group = b.group.get();
  uint16_t* order = b.order.get();
  int16_t* dup_of = b.dup_of.get();
  bool* done = b.done.get();
  size_t to_verify = 0;

  std::string_view* views = b.views.get();
  for (size_t i = 0; i < n; ++i) {
    views[i] = std::string_view(items[i].data, items[i].size);
    dup_of[i] = -1;
    done[i] = false;
    hash[i] = cache != nullptr ? cache->Hash(views[i]) : DedupKey(views[i]);
  }
  if (cache != nullptr) {
    // The whole batch at once: the cache overlaps the memory misses of its lookups.
    const VerifiedTokenCache::ReadGuard guard;
    cache->FindBatch(views, hash, n, now, *v, b.lookups.get(), status, b.entries.get(), guard,
                     capture ? identity : nullptr);
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string_view tok = views[i];
    if (cache != nullptr && b.lookups[i] == VerifiedTokenCache::Lookup::kHit) {
      done[i] = true;
      ws.cache_hits.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const size_t dot = tok.find('.');
    group[i] = XXH3_64bits(tok.data(), dot == std::string_view::npos ? tok.size() : dot);
    order[to_verify++] = static_cast<uint16_t>(i);
  }

  // Group by header (same header: same key, warm contexts), identical tokens adjacent.
  if (to_verify > 1) {
    std::sort(order, order + to_verify, [&](uint16_t a, uint16_t c) {
      return group[a] != group[c] ? group[a] < group[c] : hash[a] < hash[c];
    });
    for (size_t k = 1; k < to_verify; ++k) {
      const uint16_t a = order[k - 1], c = order[k];
      const uint16_t rep_index = dup_of[a] >= 0 ? static_cast<uint16_t>(dup_of[a]) : a;
      if (hash[a] == hash[c] && items[a].size == items[c].size &&
          std::memcmp(items[a].data, items[c].data, items[a].size) == 0) {
        dup_of[c] = static_cast<int16_t>(rep_index);
      }
    }
  }

  const RevocationCheck* revocation = v->revocation();
  size_t pending = 0;
  // One Claims for the batch: a successful VerifyBeforeRevocation sets every field, and it is
  // read only then (zeroing 136 bytes per token showed in the HS256 profile).
  Claims claims;
  for (size_t k = 0; k < to_verify; ++k) {
    const uint16_t i = order[k];
    if (dup_of[i] >= 0) continue;
    const std::string_view tok(items[i].data, items[i].size);
    status[i] = v->VerifyBeforeRevocation(tok, now, ctx, &claims);
    if (status[i] != Status::kOk) continue;
    if (capture) {
      std::vector<ClaimValue> extra(options.extra_claims.size());
      for (size_t c = 0; c < extra.size(); ++c) ctx.Capture(options.extra_claims[c], &extra[c]);
      identity[i] = VerifiedToken::From(tok, hash[i], claims, std::move(extra));
    }
    if (revocation != nullptr) {
      if (CopyForRevocation(claims, &b.revocation_claims[pending], &b.revocation_text[pending])) {
        b.revocation_index[pending++] = i;
      } else if (revocation->IsRevoked(claims)) {
        status[i] = Status::kRevoked;
      }
    }
  }
  if (pending != 0) {
    revocation->IsRevokedBatch(b.revocation_claims.get(), pending, b.revoked.get());
    for (size_t p = 0; p < pending; ++p) {
      if (b.revoked[p]) status[b.revocation_index[p]] = Status::kRevoked;
    }
  }

  uint64_t dups = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!done[i] && dup_of[i] >= 0) {
      status[i] = status[static_cast<size_t>(dup_of[i])];
      if (capture) identity[i] = identity[static_cast<size_t>(dup_of[i])];
      ++dups;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (status[i] != Status::kOk) {
      identity[i].reset();
    } else if (cache != nullptr && !done[i] && dup_of[i] < 0 && identity[i]) {
      cache->Insert(identity[i]);
    }
  }
  // Statistics before the completions: a submitter that has polled a completion then sees
  // counters that include it (the completion ring's release/acquire orders them).
  ws.completed.fetch_add(n, std::memory_order_relaxed);
  ws.batches.fetch_add(1, std::memory_order_relaxed);
  if (dups != 0) ws.deduplicated.fetch_add(dups, std::memory_order_relaxed);
  Complete(n, b, capture);
}

// Complete last: the submitter may free the token bytes as soon as it polls. Each submitter's
// completions go out as one run (one ring claim, one wake-up), in submission order.
void Pipeline::Rep::Complete(size_t n, BatchScratch& b, bool capture) {
  const Item* items = b.items.get();
  Completion* out = b.completions.get();
  uint16_t* by_target = b.by_target.get();
  bool one_target = true;
  for (size_t i = 0; i < n; ++i) {
    by_target[i] = static_cast<uint16_t>(i);
    one_target = one_target && items[i].target == items[0].target;
  }
  if (!one_target) {
    // Insertion sort by target: stable, allocation-free, and near-linear for the usual few
    // submitters whose items arrive in runs.
    const std::less<const CompletionQueue*> before;
    for (size_t i = 1; i < n; ++i) {
      const uint16_t x = by_target[i];
      size_t j = i;
      for (; j > 0 && before(items[x].target, items[by_target[j - 1]].target); --j) {
        by_target[j] = by_target[j - 1];
      }
      by_target[j] = x;
    }
  }
  for (size_t k = 0; k < n; ++k) {
    const size_t i = by_target[k];
    out[k].ticket = items[i].ticket;
    out[k].submitted = std::string_view(items[i].data, items[i].size);
    out[k].status = b.status[i];
    out[k].token = capture ? std::move(b.identity[i]) : nullptr;
  }
  for (size_t k = 0; k < n;) {
    CompletionQueue* target = items[by_target[k]].target;
    size_t end = k + 1;
    while (end < n && items[by_target[end]].target == target) ++end;
    target->Deliver(out + k, end - k);
    k = end;
  }
}

}  // namespace jwtgate
