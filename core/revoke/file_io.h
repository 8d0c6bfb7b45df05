// File primitives of the revocation state directory: POSIX calls with errors turned into
// one-line messages ("fdatasync(/var/lib/jwtgate/000003.log): Input/output error").
// Nothing here is on the check path.
//
// For fuzzing and tests, a MemoryFileSystem can be installed instead (see the end of this
// header): every primitive then works on files held in memory, so that a fuzz target can
// create, recover and compact a state tens of thousands of times per second without a
// system call per file operation.
#ifndef JWTGATE_REVOKE_FILE_IO_H_
#define JWTGATE_REVOKE_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
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
  std::vector<uint8_t> copy_;  // the bytes of an in-memory file (data_ points here)
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
  bool is_open() const noexcept { return fd_ >= 0 || in_memory_; }
  uint64_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  int fd_ = -1;
  bool in_memory_ = false;
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
// rename(2), replacing `to` when it exists.
bool RenameFile(const std::string& from, const std::string& to, std::string* error);
// Creates `dir` (mode 0700) when it does not exist; fails when `dir` names something that is
// not a directory, or when it does not exist and `create` is false.
bool EnsureDir(const std::string& dir, bool create, std::string* error);

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
  std::string memory_path_;  // the lock held in a MemoryFileSystem
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
  bool in_memory_ = false;
  std::string path_;
  std::vector<uint8_t> buf_;
  uint64_t flushed_ = 0;
};

// Files and directories in memory, for fuzzing and tests. While one is installed (Install), the
// primitives above never touch the real file system: paths are plain keys ("dir/name"), a
// directory holds the files whose path is dir + "/" + name, syncs do nothing, and a DirLock is
// exclusive among the DirLocks of the process. Thread-safe. Install before opening any store
// and keep the object alive until every store is destroyed; not for production use (nothing
// survives the process).
class MemoryFileSystem {
 public:
  // Makes `fs` the file system of every primitive; nullptr restores the real one.
  static void Install(MemoryFileSystem* fs) noexcept;
  // The installed one, or nullptr.
  static MemoryFileSystem* Installed() noexcept;

  // Test helpers: create a directory; write, read or remove a file; drop everything.
  void MakeDir(const std::string& dir);
  void WriteFile(const std::string& path, const void* data, size_t n);
  bool ReadFile(const std::string& path, std::vector<uint8_t>* out) const;
  void Clear();

 private:
  friend class MappedFile;
  friend class AppendFile;
  friend class DirLock;
  friend class SnapshotWriter;
  friend bool SyncDir(const std::string&, std::string*);
  friend bool TruncateFile(const std::string&, uint64_t, std::string*);
  friend bool WriteFileDurably(const std::string&, const std::string&, const void*, size_t,
                               std::string*);
  friend bool ListDir(const std::string&, std::vector<std::string>*, std::string*);
  friend bool FileExists(const std::string&);
  friend bool RemoveFile(const std::string&, std::string*);
  friend bool RenameFile(const std::string&, const std::string&, std::string*);
  friend bool EnsureDir(const std::string&, bool, std::string*);

  // The directory part of a path ("" for a bare name).
  static std::string DirOf(const std::string& path);
  bool DirExistsLocked(const std::string& dir) const;

  mutable std::mutex mu_;
  std::set<std::string> dirs_;
  std::map<std::string, std::vector<uint8_t>> files_;
  std::set<std::string> locks_;
};

}  // namespace jwtgate::revoke

#endif  // JWTGATE_REVOKE_FILE_IO_H_
