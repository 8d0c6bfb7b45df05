// Clang thread-safety annotations (no-ops for other compilers) and a Mutex that carries them,
// so that `clang -Wthread-safety` checks which state each lock protects (LevelDB
// port/thread_annotations.h). Mutex wraps a std::mutex (not recursive) and may be locked from
// any thread; MutexLock holds one for a scope.
#ifndef JWTGATE_BASE_THREAD_ANNOTATIONS_H_
#define JWTGATE_BASE_THREAD_ANNOTATIONS_H_

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define JWTGATE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define JWTGATE_THREAD_ANNOTATION(x)
#endif

#define JWTGATE_CAPABILITY(x) JWTGATE_THREAD_ANNOTATION(capability(x))
#define JWTGATE_SCOPED_CAPABILITY JWTGATE_THREAD_ANNOTATION(scoped_lockable)
#define JWTGATE_GUARDED_BY(x) JWTGATE_THREAD_ANNOTATION(guarded_by(x))
#define JWTGATE_REQUIRES(...) JWTGATE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define JWTGATE_ACQUIRE(...) JWTGATE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define JWTGATE_RELEASE(...) JWTGATE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define JWTGATE_EXCLUDES(...) JWTGATE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

namespace jwtgate::base {

class JWTGATE_CAPABILITY("mutex") Mutex {
 public:
  void Lock() JWTGATE_ACQUIRE() { mu_.lock(); }
  void Unlock() JWTGATE_RELEASE() { mu_.unlock(); }
  // Waits on `cv`, releasing the mutex meanwhile. REQUIRES: held.
  void Wait(std::condition_variable& cv) JWTGATE_REQUIRES(this) {
    std::unique_lock<std::mutex> l(mu_, std::adopt_lock);
    cv.wait(l);
    l.release();
  }
  // Same, until `deadline` at the latest. Returns false on timeout.
  template <typename TimePoint>
  bool WaitUntil(std::condition_variable& cv, TimePoint deadline) JWTGATE_REQUIRES(this) {
    std::unique_lock<std::mutex> l(mu_, std::adopt_lock);
    const bool woken = cv.wait_until(l, deadline) == std::cv_status::no_timeout;
    l.release();
    return woken;
  }

 private:
  std::mutex mu_;
};

class JWTGATE_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) JWTGATE_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() JWTGATE_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_THREAD_ANNOTATIONS_H_
