// What the CPU offers beyond the baseline the build targets (x86-64 without -march=native), for
// the few loops that choose a vector path at run time. Header-only.
//
// kHaveAvx2 is read on every call of those loops: one load of a constant after start-up. Code
// that runs during static initialization, before this variable's own initializer, reads false
// and takes the baseline path, which is always correct.
#ifndef JWTGATE_BASE_CPU_FEATURES_H_
#define JWTGATE_BASE_CPU_FEATURES_H_

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define JWTGATE_X86_DISPATCH 1
#endif

namespace jwtgate::base {

#if defined(JWTGATE_X86_DISPATCH)
inline bool DetectAvx2() noexcept {
  __builtin_cpu_init();  // required before __builtin_cpu_supports in a static initializer
  return __builtin_cpu_supports("avx2") != 0;
}
inline const bool kHaveAvx2 = DetectAvx2();
#else
inline constexpr bool kHaveAvx2 = false;
#endif

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_CPU_FEATURES_H_
