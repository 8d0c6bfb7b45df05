// VerifierCell: the Verifier in force, replaced while other threads verify with it.
//
// Keys change at run time (a reload, an issuer that rotates its keys: jwtgate/key_source.h).
// A Verifier is immutable, so a change builds a new one and publishes it here. Readers never
// lock and never see a half-built verifier: a read is one acquire load of a pointer inside an
// epoch read section (two thread-local stores, no atomic read-modify-write, no fence; see
// core/base/epoch.h). Store() publishes the next verifier, waits until no reader can still be
// using the previous one, and only then releases it: old verifiers and their key sets are
// reclaimed, not kept for the life of the process.
//
// Thread safety: Reader and Verify from any thread at any time; Store from any thread (stores
// are serialized), but never from inside a Reader on the same thread (it would wait for
// itself). Lifetime: the cell must outlive its Readers.
//
// Cost on the verify path, measured by bench/verify_bench.cc (BM_Cell: through the cell against
// the same Verifier called directly, paired in one run, 2-core VM): 5-8 ns per token, +0.6% to
// +0.8% for HS256/384/512, within +-0.1% for RSA, ECDSA and EdDSA
// (results/2026-12-07-vm/remote_keys_paired/).
#ifndef JWTGATE_VERIFIER_CELL_H_
#define JWTGATE_VERIFIER_CELL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "jwtgate/claims.h"
#include "jwtgate/status.h"
#include "jwtgate/verifier.h"

namespace jwtgate {

class VerifierCell {
 public:
  // REQUIRES: `initial` is not null.
  explicit VerifierCell(std::shared_ptr<const Verifier> initial);
  ~VerifierCell();
  VerifierCell(const VerifierCell&) = delete;
  VerifierCell& operator=(const VerifierCell&) = delete;

  // A read section with the verifier in force when it began. Cheap; nestable; not movable.
  // The reference stays valid until the Reader ends, even if Store replaces it meanwhile.
  class Reader {
   public:
    explicit Reader(const VerifierCell& cell) noexcept;
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    const Verifier& operator*() const noexcept { return *verifier_; }
    const Verifier* operator->() const noexcept { return verifier_; }

   private:
    alignas(8) unsigned char guard_[16];
    const Verifier* verifier_;
  };

  // Verifier::Verify with the verifier in force. The views in `*out` point into `ctx`, so they
  // outlive the verifier that filled them.
  [[nodiscard]] Status Verify(std::string_view token, int64_t now, VerifyContext& ctx,
                              Claims* out) const noexcept {
    const Reader r(*this);
    return r->Verify(token, now, ctx, out);
  }

  // Shares the verifier in force (for callers that hold one for a batch of tokens).
  std::shared_ptr<const Verifier> Load() const;

  // Publishes `next` (not null), then waits for readers of the previous verifier and releases
  // the cell's reference to it. Returns once no Reader can still see the previous one.
  void Store(std::shared_ptr<const Verifier> next);

  // Incremented by every Store: a verdict reached under generation g is stale once this differs.
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<const Verifier*> current_;
  std::atomic<uint64_t> generation_{0};
  mutable std::mutex mu_;                  // serializes Store and Load's copy
  std::shared_ptr<const Verifier> owner_;  // GUARDED_BY(mu_): keeps current_ alive
};

}  // namespace jwtgate

#endif  // JWTGATE_VERIFIER_CELL_H_
