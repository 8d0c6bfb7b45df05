// kCacheLine: the alignment that keeps independently written data on separate cache lines
// (no false sharing) and keeps one block of a structure within one line.
//
// 64 bytes: the line size of every x86-64 and AArch64 server core this project targets. Not
// std::hardware_destructive_interference_size: GCC warns (-Winterference-size) when it is used
// in a header, because its value follows -mtune and would then differ between translation
// units. Structures that are read as a pair of lines (the adjacent-line prefetcher fetches
// 128-byte pairs on Intel cores) align to 2 * kCacheLine themselves.
#ifndef JWTGATE_BASE_CACHE_LINE_H_
#define JWTGATE_BASE_CACHE_LINE_H_

#include <cstddef>

namespace jwtgate::base {

inline constexpr size_t kCacheLine = 64;

}  // namespace jwtgate::base

#endif  // JWTGATE_BASE_CACHE_LINE_H_
