// The pieces shared by jwtgate's named enums (Status, FetchOutcome and the internal ones). Each
// is declared by a list macro, LIST(X), that calls X(enumerator, "snake_case_name") once per
// value, and expands it twice:
//
//   enum class Color : uint8_t { COLOR_LIST(JWTGATE_ENUMERATOR) };
//   inline constexpr std::string_view kColorNames[] = {COLOR_LIST(JWTGATE_ENUM_NAME)};
//
// so the enumerators are 0, 1, 2, ... in list order and kColorNames[i] names value i. The
// names are stable contracts (metric labels, log fields): add at the end of a group, never
// rename. Everything here is constexpr and thread-safe.
#ifndef JWTGATE_NAMED_ENUM_H_
#define JWTGATE_NAMED_ENUM_H_

#include <cstddef>
#include <string_view>

#define JWTGATE_ENUMERATOR(name, str) name,
#define JWTGATE_ENUM_NAME(name, str) std::string_view{str},

namespace jwtgate::internal {

// names[e], or `unknown` for a value outside the list (a cast from a bad integer).
template <class E, size_t N>
constexpr std::string_view EnumName(E e, const std::string_view (&names)[N],
                                    std::string_view unknown) noexcept {
  const auto i = static_cast<size_t>(e);
  return i < N ? names[i] : unknown;
}

// The value that `name` names; false (and *out untouched) when none does.
template <class E, size_t N>
constexpr bool EnumFromName(std::string_view name, const std::string_view (&names)[N],
                            E* out) noexcept {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) {
      *out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

}  // namespace jwtgate::internal

#endif  // JWTGATE_NAMED_ENUM_H_
