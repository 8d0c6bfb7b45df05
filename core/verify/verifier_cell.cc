#include "jwtgate/verifier_cell.h"

#include <new>
#include <utility>

#include "base/epoch.h"

namespace jwtgate {

VerifierCell::VerifierCell(std::shared_ptr<const Verifier> initial)
    : current_(initial.get()), owner_(std::move(initial)) {}

VerifierCell::~VerifierCell() = default;

VerifierCell::Reader::Reader(const VerifierCell& cell) noexcept {
  static_assert(sizeof(base::EpochDomain::Guard) <= sizeof(guard_) &&
                alignof(base::EpochDomain::Guard) <= 8);
  new (guard_) base::EpochDomain::Guard(base::EpochDomain::Global());
  // acquire: pairs with Store's release; the verifier (and its key set) built before it was
  // published is visible here.
  verifier_ = cell.current_.load(std::memory_order_acquire);
}

VerifierCell::Reader::~Reader() {
  std::launder(reinterpret_cast<base::EpochDomain::Guard*>(guard_))->~Guard();
}

std::shared_ptr<const Verifier> VerifierCell::Load() const {
  std::lock_guard lock(mu_);
  return owner_;
}

void VerifierCell::Store(std::shared_ptr<const Verifier> next) {
  std::shared_ptr<const Verifier> previous;
  {
    std::lock_guard lock(mu_);
    // release: a reader that loads `next` sees it fully built.
    current_.store(next.get(), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    previous = std::exchange(owner_, std::move(next));
    // Readers that loaded `previous` are inside an epoch section that began before the store;
    // Synchronize waits for them to end. Under the lock: a concurrent Store cannot release
    // the verifier this one just published before its readers are done either.
    base::EpochDomain::Global().Synchronize();
  }
  // `previous` is released here (its last holder may be a pipeline batch, which keeps its own
  // reference).
}

}  // namespace jwtgate
