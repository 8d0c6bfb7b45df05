// File primitives of the revocation state directory: POSIX calls with errors turned into
// one-line messages ("fdatasync(/var/lib/jwtgate/000003.log): Input/output error").
// Nothing here is on the check path.
#ifndef JWTGATE_REVOKE_FILE_IO_H_
#define JWTGATE_REVOKE_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jwtgate::revoke {

// "op(path): strerror(errno)".
std::string ErrnoMessage(std::string_view op, const std::string& path);

std::string JoinPath(const std::string& dir, const std::string& name);

// A read-only memory map of a whole file (empty files map to nothing).
class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  bool Open(const std::string& path, std::string* error);
  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }

 private:
  void Close() noexcept;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// An append-only file: write(2) loops over short writes and EINTR; Sync is fdatasync(2).
class AppendFile {
 public:
  AppendFile() = default;
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // Opens `path` for appending; creates it when `create` (O_EXCL: it must not exist).
  bool Open(const std::string& path, bool create, std::string* error);
  bool Append(const void* data, size_t n, std::string* error);
  bool Sync(std::string* error);
  void Close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }
  uint64_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

// fsync(2) of a directory, so that created, renamed and removed names are durable.
bool SyncDir(const std::string& dir, std::string* error);
// Truncates `path` to `size` bytes and fsyncs it.
bool TruncateFile(const std::string& path, uint64_t size, std::string* error);
// Writes `data` to path + ".tmp", fsyncs it, renames it to `path` and fsyncs the directory.
bool WriteFileDurably(const std::string& dir, const std::string& name, const void* data, size_t n,
                      std::string* error);
// Names in `dir` (without "." and "..").
bool ListDir(const std::string& dir, std::vector<std::string>* names, std::string* error);
bool FileExists(const std::string& path);
bool RemoveFile(const std::string& path, std::string* error);

// flock(LOCK_EX | LOCK_NB) on dir/LOCK, held until the object is destroyed.
class DirLock {
 public:
  DirLock() = default;
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  bool Acquire(const std::string& path, std::string* error);

 private:
  int fd_ = -1;
};

// A buffered writer for snapshot files that tracks the offset and can patch earlier bytes.
class SnapshotWriter {
 public:
  SnapshotWriter() = default;
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  bool Create(const std::string& path, std::string* error);  // truncates
  bool Write(const void* data, size_t n, std::string* error);
  bool PatchAt(uint64_t offset, const void* data, size_t n, std::string* error);
  // Flushes, fsyncs and closes.
  bool Finish(std::string* error);
  uint64_t offset() const noexcept { return flushed_ + buf_.size(); }

 private:
  bool Flush(std::string* error);
  int fd_ = -1;
  std::string path_;
  std::vector<uint8_t> buf_;
  uint64_t flushed_ = 0;
};

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_FILE_IO_H_
