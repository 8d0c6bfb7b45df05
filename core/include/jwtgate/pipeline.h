// Pipeline: many submitters (I/O threads) hand tokens to all cores; workers verify them in
// batches.
//
//   Submit --> bounded MPMC ring --> worker (TBB arena, one per core): batch closes on
//   max_batch, batch_budget or batch_deadline --> cache hits answered, identical tokens verified
//   once, tokens grouped by header (hence by key), signatures, claims, revocation (batched, with
//   prefetch) --> Completion pushed to the submitter's CompletionQueue (lock-free MPSC ring,
//   optional eventfd signal).
//
// Costs: a worker takes a run of tokens off the ring with one CAS, and delivers each
// submitter's completions of a batch with one CAS and at most one wake-up. A waiting
// submitter spins for a few microseconds before it sleeps. Waking a sleeping thread is the
// dearest step on the path (a system call for the waker and an inter-processor interrupt;
// tens of microseconds on a virtual machine), so a throughput-bound submitter should hand
// tokens over with SubmitBatch and wait for many completions at once (Wait's min_count,
// like io_uring's wait_nr): then one wake-up serves hundreds of tokens, not one batch.
//
// Back-pressure: a full ring, or a CompletionQueue with as many tokens in flight as it can
// hold, makes Submit return kOverloaded at once; memory never grows with load.
// Exactly once: every Submit that returns kOk produces exactly one Completion, including
// during Shutdown (which stops intake, then drains). A Submit that returns anything else
// produces none.
#ifndef JWTGATE_PIPELINE_H_
#define JWTGATE_PIPELINE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "jwtgate/cache.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

namespace jwtgate {

struct Completion {
  uint64_t ticket = 0;
  Status status = Status::kInternalError;
  // Set when status == kOk and the pipeline captures identities (cache enabled or
  // PipelineOptions::capture_identity).
  std::shared_ptr<const VerifiedToken> token;
  // The token as submitted: a view of the submitter's bytes (valid as long as the submitter
  // keeps them), for a submitter that acts on a rejection (e.g. refetches keys on unknown_kid).
  std::string_view submitted;
};

// The completion target of one submitter. Many workers push; only the owning submitter
// thread polls. Capacity bounds the submitter's tokens in flight.
class CompletionQueue {
 public:
  // REQUIRES: capacity a power of two >= 2. With `signal`, an eventfd becomes readable when
  // completions are pushed (for an io_uring or epoll loop).
  explicit CompletionQueue(size_t capacity, bool signal = false);
  // Waits for a worker still returning from its last delivery to this queue.
  // REQUIRES: in_flight() == 0 (every accepted submission has been polled).
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // Owner thread only. Moves up to `max` completions into `out`; returns how many.
  size_t Poll(Completion* out, size_t max) noexcept;
  // Owner thread only. Blocks until at least min(min_count, max, in_flight()) completions
  // (at least one) are available or `timeout` passes, then moves up to `max` of them into
  // `out`; returns how many (fewer than asked only at the timeout). Polls for up to 4 us
  // (less while polls keep missing), then sleeps; a worker wakes it only once enough
  // completions are there, so a large min_count saves both sides a wake-up per batch.
  size_t Wait(Completion* out, size_t max, std::chrono::nanoseconds timeout,
              size_t min_count = 1) noexcept;

  // The eventfd (or -1 without `signal`). Reading it clears the signal.
  int event_fd() const noexcept { return event_fd_; }
  size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  size_t capacity() const noexcept;

 private:
  friend class Pipeline;
  struct Rep;
  bool Reserve() noexcept;                // Submit side: one more in flight
  size_t ReserveUpTo(size_t n) noexcept;  // Submit side: up to n more; returns how many
  void Unreserve(size_t n = 1) noexcept;  // Submit failed after Reserve
  // Worker side: moves c[0, n) in (never fails: the slots were reserved) and, if the owner
  // sleeps in Wait and now has as many completions as it waits for, wakes it once.
  void Deliver(Completion* c, size_t n) noexcept;
  std::unique_ptr<Rep> rep_;
  int event_fd_ = -1;
  std::atomic<size_t> in_flight_{0};
};

struct PipelineOptions {
  unsigned workers = 0;         // 0: one per core
  size_t ring_capacity = 4096;  // power of two
  // A batch closes when it holds max_batch tokens, when the verification work it holds reaches
  // batch_budget (each worker keeps a running average of its time per token; its first batch
  // is limited to 32 tokens), or batch_deadline after it started waiting for more, whichever
  // comes first. The budget bounds the delay a batch adds to its first token whatever the
  // algorithm (about 20 ES256 tokens, or max_batch HS256 ones, at 1 ms), while per-batch
  // costs (each submitter's wake-up, the grouping sort) are spread over as many tokens as it
  // allows. batch_budget 0: max_batch and the deadline alone.
  size_t max_batch = 256;  // 1..256
  std::chrono::nanoseconds batch_budget = std::chrono::microseconds(1000);
  std::chrono::nanoseconds batch_deadline = std::chrono::microseconds(20);
  VerifiedTokenCache* cache = nullptr;  // optional; must outlive the pipeline
  bool capture_identity = false;        // fill Completion::token even without a cache
  // Claims (top-level names or JSON pointers, see IsValidClaimPath) captured into
  // VerifiedToken::extra, in order (for identity headers and route requirements).
  std::vector<std::string> extra_claims;
  // Clock in seconds since the epoch; defaults to the system clock. Tests inject time here.
  int64_t (*clock)() = nullptr;
};

class Pipeline {
 public:
  Pipeline(std::shared_ptr<const Verifier> verifier, PipelineOptions options);
  ~Pipeline();  // Shutdown(), then joins the workers
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Thread-safe, non-blocking. `token` must stay valid until its completion is polled.
  // Returns kOk (a completion will follow), kOverloaded or kShuttingDown.
  [[nodiscard]] Status Submit(std::string_view token, uint64_t ticket,
                              CompletionQueue* target) noexcept;

  struct Submission {
    std::string_view token;  // must stay valid until its completion is polled
    uint64_t ticket = 0;
  };
  // Thread-safe, non-blocking. Submits the longest prefix of items[0, n) that the ring and
  // `target` have room for and returns its length; each of those gets exactly one
  // completion. When it returns less than n, *why (if given) says why the rest was refused
  // (kOverloaded or kShuttingDown). One pass over the shared state for the whole run: one
  // ring claim per 64 tokens, one fence, and wake-ups only for workers that sleep.
  [[nodiscard]] size_t SubmitBatch(const Submission* items, size_t n, CompletionQueue* target,
                                   Status* why = nullptr) noexcept;

  // Hot reload: later batches use `verifier`; the cache (if any) is cleared.
  void SetVerifier(std::shared_ptr<const Verifier> verifier);

  // Stops intake, verifies what was accepted, stops the workers. Idempotent.
  void Shutdown();

  // Counters since Start, read with relaxed loads: each is exact, the set is not one instant.
  struct Stats {
    uint64_t submitted = 0;     // tokens accepted: completed + queue_depth
    uint64_t completed = 0;     // tokens answered (verified, deduplicated or from the cache)
    uint64_t overloaded = 0;    // tokens refused with kOverloaded (queue or completion queue full)
    uint64_t batches = 0;       // batches the workers ran
    uint64_t deduplicated = 0;  // tokens answered by an identical token in the same batch
    uint64_t cache_hits = 0;    // tokens answered from the verified-token cache
    size_t queue_depth = 0;     // accepted, not yet taken by a worker (approximate)
    unsigned workers = 0;       // worker threads started
  };
  Stats stats() const noexcept;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace jwtgate

#endif  // JWTGATE_PIPELINE_H_
