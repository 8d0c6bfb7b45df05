// File helpers for the CLI: whole-file reads with a size cap, and crash-safe writes (temp
// file, fsync, rename, fsync of the directory) so that an interrupted command never leaves a
// half-written key or key set behind.
#ifndef JWTGATE_CLI_IO_H_
#define JWTGATE_CLI_IO_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace jwtgate::cli {

// Reads `path` ("-" for standard input). Returns false and sets `*error` on failure.
bool ReadFile(const std::string& path, size_t max_bytes, std::string* out, std::string* error);

// Replaces `path` atomically with `data`, created with permission bits `mode`.
bool WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode,
                     std::string* error);

// Strips ASCII whitespace from both ends.
std::string_view Trim(std::string_view s);

}  // namespace jwtgate::cli

#endif  // JWTGATE_CLI_IO_H_
