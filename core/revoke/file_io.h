// File helpers of the revocation state directory, on top of a FileEnv (jwtgate/file_env.h):
// path joining, the durable write of a small file, and the buffered snapshot writer. Nothing
// here is on the check path.
#ifndef JWTGATE_REVOKE_FILE_IO_H_
#define JWTGATE_REVOKE_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "jwtgate/file_env.h"

namespace jwtgate::revoke {

// "op(path): strerror(errno)".
std::string ErrnoMessage(std::string_view op, const std::string& path);
// The message of `op` failing with error number `e`, in the same form.
std::string ErrnoMessage(std::string_view op, const std::string& path, int e);

std::string JoinPath(const std::string& dir, const std::string& name);

// Writes `data` to dir/name + ".tmp", syncs it, renames it to dir/name and syncs the
// directory: after a crash the file is there whole or not at all.
bool WriteFileDurably(FileEnv& env, const std::string& dir, const std::string& name,
                      const void* data, size_t n, std::string* error);

// A buffered writer for snapshot files that tracks the offset and can patch earlier bytes.
class SnapshotWriter {
 public:
  explicit SnapshotWriter(FileEnv& env) : env_(env) {}
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  bool Create(const std::string& path, std::string* error);  // truncates
  bool Write(const void* data, size_t n, std::string* error);
  bool PatchAt(uint64_t offset, const void* data, size_t n, std::string* error);
  // Flushes, syncs and closes.
  bool Finish(std::string* error);
  uint64_t offset() const noexcept { return flushed_ + buf_.size(); }

 private:
  bool Flush(std::string* error);
  FileEnv& env_;
  std::unique_ptr<WritableFile> file_;
  std::vector<uint8_t> buf_;
  uint64_t flushed_ = 0;
};

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_FILE_IO_H_
