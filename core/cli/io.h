// File helpers for the CLI: whole-file reads with a size cap, crash-safe writes (temp file,
// fsync, rename, fsync of the directory) so that an interrupted command never leaves a
// half-written key or key set behind, and the permission checks for files holding secrets.
#ifndef JWTGATE_CLI_IO_H_
#define JWTGATE_CLI_IO_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace jwtgate::cli {

enum class ReadResult { kOk, kTooLarge, kError };

// Reads `path` ("-" for standard input) into `*out`. Stops reading once more than `max_bytes`
// have arrived and returns kTooLarge: the rest of the input is never read, and `*out` is then
// unspecified. On kTooLarge and kError, `*error` names the file and what is wrong with it:
// "P: is a directory", "P: larger than N bytes", "P: No such file or directory".
ReadResult ReadFileUpTo(const std::string& path, size_t max_bytes, std::string* out,
                        std::string* error);

// ReadFileUpTo(...) == ReadResult::kOk.
bool ReadFile(const std::string& path, size_t max_bytes, std::string* out, std::string* error);

// How WriteFileAtomic applies `mode`.
enum class ModeRule {
  kLessUmask,  // `mode` less the process umask, as open(2) does: for files others may read
  kExact,      // exactly `mode`, whatever the umask: for secrets, and to keep an existing mode
};

// Replaces `path` atomically with `data`. The new file has permission bits `mode` (07777)
// applied as `rule` says, before any of `data` is written to it.
bool WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode, ModeRule rule,
                     std::string* error);

// The permission bits (07777) of `path`, following symlinks; nullopt when it does not exist
// or cannot be examined.
std::optional<unsigned> PermissionBits(const std::string& path);

// For a file that holds `what` ("a secret key", "a private key"): when users other than its
// owner may read it (group or other read bit), the warning to print, e.g. "warning: P holds a
// secret key and is readable by other users (mode 0644); chmod 600 P". "" otherwise, and for
// "-" (standard input).
std::string ReadableByOthersWarning(const std::string& path, std::string_view what);

// Strips ASCII whitespace from both ends.
std::string_view Trim(std::string_view s);

}  // namespace jwtgate::cli

#endif  // JWTGATE_CLI_IO_H_
