// FileEnv: the file system a RevocationStore keeps its state in, passed in its options (as
// LevelDB's Env). The store reaches its files only through it, so that tests and fuzz
// targets can run the same store on files held in memory (NewMemoryFileEnv): tens of
// thousands of create / recover / compact cycles a second, without a system call per file
// operation, and no process-wide switch.
//
// Semantics are those of POSIX, which DefaultFileEnv() is: paths are strings, a directory
// holds the files whose path is dir + "/" + name, Sync makes written bytes durable, SyncDir
// makes created, renamed and removed names durable, a lock is exclusive among the holders
// of every FileEnv that shares the files (processes, for the default one). Errors are one-line
// messages in the form "op(path): reason" ("fdatasync(/var/lib/jwtgate/000003.log):
// Input/output error").
//
// Thread safety: every method of a FileEnv may be called from any thread concurrently; a
// file object (AppendableFile, WritableFile) is used by one thread at a time. Lifetimes: the
// objects a FileEnv returns must not outlive it; DefaultFileEnv() lives for the process.
#ifndef JWTGATE_FILE_ENV_H_
#define JWTGATE_FILE_ENV_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace jwtgate {

// The bytes of a whole file as they were when it was read (a private memory map, or a copy).
class FileImage {
 public:
  virtual ~FileImage() = default;
  virtual const uint8_t* data() const noexcept = 0;  // null when size() is 0
  virtual size_t size() const noexcept = 0;
};

// A file written at its end; Sync is fdatasync.
class AppendableFile {
 public:
  virtual ~AppendableFile() = default;
  [[nodiscard]] virtual bool Append(const void* data, size_t n, std::string* error) = 0;
  [[nodiscard]] virtual bool Sync(std::string* error) = 0;
  virtual uint64_t size() const noexcept = 0;  // bytes in the file, those appended included
};

// A new file, written sequentially and patched at earlier offsets; Sync is fsync.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  [[nodiscard]] virtual bool Write(const void* data, size_t n, std::string* error) = 0;
  // REQUIRES: [offset, offset + n) was written before.
  [[nodiscard]] virtual bool WriteAt(uint64_t offset, const void* data, size_t n,
                                     std::string* error) = 0;
  [[nodiscard]] virtual bool Sync(std::string* error) = 0;
};

// An exclusive lock on a file, held until the object is destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class FileEnv {
 public:
  virtual ~FileEnv() = default;

  [[nodiscard]] virtual bool ReadFile(const std::string& path, std::unique_ptr<FileImage>* out,
                                      std::string* error) = 0;
  // Opens `path` for appending; with `create`, creates it (mode 0600), and it must not exist.
  [[nodiscard]] virtual bool OpenAppendable(const std::string& path, bool create,
                                            std::unique_ptr<AppendableFile>* out,
                                            std::string* error) = 0;
  // Creates `path` (mode 0600), emptying it when it exists.
  [[nodiscard]] virtual bool CreateWritable(const std::string& path,
                                            std::unique_ptr<WritableFile>* out,
                                            std::string* error) = 0;
  // Cuts `path` to `size` bytes and makes that durable.
  [[nodiscard]] virtual bool Truncate(const std::string& path, uint64_t size,
                                      std::string* error) = 0;
  [[nodiscard]] virtual bool SyncDir(const std::string& dir, std::string* error) = 0;
  // The names in `dir`, without "." and "..".
  [[nodiscard]] virtual bool ListDir(const std::string& dir, std::vector<std::string>* names,
                                     std::string* error) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Removing a file that does not exist succeeds.
  [[nodiscard]] virtual bool Remove(const std::string& path, std::string* error) = 0;
  // Replaces `to` when it exists.
  [[nodiscard]] virtual bool Rename(const std::string& from, const std::string& to,
                                    std::string* error) = 0;
  // Creates `dir` (mode 0700; its parent must exist) when it does not exist and `create`;
  // fails when `dir` names something that is not a directory.
  [[nodiscard]] virtual bool EnsureDir(const std::string& dir, bool create, std::string* error) = 0;
  // Creates `path` if needed and takes an exclusive lock on it without waiting; fails with
  // "PATH: held by another process (...)" when someone holds it.
  [[nodiscard]] virtual bool LockFile(const std::string& path, std::unique_ptr<FileLock>* out,
                                      std::string* error) = 0;
};

// The real file system (POSIX calls; whole files are read through mmap).
FileEnv* DefaultFileEnv();

// Files and directories held in memory, for tests and fuzzing: syncs do nothing, nothing
// survives the object, a lock is exclusive among the users of this object. The directory
// "" (bare names) always exists; others are made with EnsureDir.
std::unique_ptr<FileEnv> NewMemoryFileEnv();

}  // namespace jwtgate

#endif  // JWTGATE_FILE_ENV_H_
