// DefaultFileEnv: the real file system, through POSIX calls.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "jwtgate/file_env.h"
#include "revoke/file_io.h"

namespace jwtgate {
namespace {

using revoke::ErrnoMessage;

bool WriteAll(int fd, const void* data, size_t n, const std::string& path, std::string* error) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      *error = ErrnoMessage("write", path);
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// open(2) with O_CLOEXEC; a file it creates gets mode 0600 (the state directory holds the
// hashing secret). -1, with the error, on failure.
int OpenFile(const std::string& path, int flags, std::string* error) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) *error = ErrnoMessage("open", path);
  return fd;
}

// OpenFile and the file's size; -1, with the error, on failure.
int OpenFileWithSize(const std::string& path, int flags, uint64_t* size, std::string* error) {
  const int fd = OpenFile(path, flags, error);
  if (fd < 0) return -1;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *error = ErrnoMessage("fstat", path);
    ::close(fd);
    return -1;
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

// A private, read-only map of the whole file, read ahead (MAP_POPULATE, sequential advice):
// recovery reads every byte once.
class MappedImage final : public FileImage {
 public:
  MappedImage(uint8_t* data, size_t size) : data_(data), size_(size) {}
  ~MappedImage() override {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  const uint8_t* data() const noexcept override { return data_; }
  size_t size() const noexcept override { return size_; }

 private:
  uint8_t* data_;
  size_t size_;
};

class PosixAppendable final : public AppendableFile {
 public:
  PosixAppendable(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixAppendable() override { ::close(fd_); }
  bool Append(const void* data, size_t n, std::string* error) override {
    if (!WriteAll(fd_, data, n, path_, error)) return false;
    size_ += n;
    return true;
  }
  bool Sync(std::string* error) override {
    if (::fdatasync(fd_) == 0) return true;
    *error = ErrnoMessage("fdatasync", path_);
    return false;
  }
  uint64_t size() const noexcept override { return size_; }

 private:
  const int fd_;
  const std::string path_;
  uint64_t size_;
};

class PosixWritable final : public WritableFile {
 public:
  PosixWritable(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritable() override { ::close(fd_); }
  bool Write(const void* data, size_t n, std::string* error) override {
    return WriteAll(fd_, data, n, path_, error);
  }
  bool WriteAt(uint64_t offset, const void* data, size_t n, std::string* error) override {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
      if (w < 0) {
        if (errno == EINTR) continue;
        *error = ErrnoMessage("pwrite", path_);
        return false;
      }
      p += w;
      n -= static_cast<size_t>(w);
      offset += static_cast<uint64_t>(w);
    }
    return true;
  }
  bool Sync(std::string* error) override {
    if (::fsync(fd_) == 0) return true;
    *error = ErrnoMessage("fsync", path_);
    return false;
  }

 private:
  const int fd_;
  const std::string path_;
};

// flock(LOCK_EX): released when the descriptor is closed.
class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override { ::close(fd_); }

 private:
  const int fd_;
};

class PosixFileEnv final : public FileEnv {
 public:
  bool ReadFile(const std::string& path, std::unique_ptr<FileImage>* out,
                std::string* error) override {
    uint64_t file_size = 0;
    const int fd = OpenFileWithSize(path, O_RDONLY, &file_size, error);
    if (fd < 0) return false;
    const auto size = static_cast<size_t>(file_size);
    uint8_t* data = nullptr;
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p == MAP_FAILED) {
        *error = ErrnoMessage("mmap", path);
        ::close(fd);
        return false;
      }
      data = static_cast<uint8_t*>(p);
      ::madvise(data, size, MADV_SEQUENTIAL);
    }
    ::close(fd);
    *out = std::make_unique<MappedImage>(data, size);
    return true;
  }

  bool OpenAppendable(const std::string& path, bool create, std::unique_ptr<AppendableFile>* out,
                      std::string* error) override {
    const int flags = O_WRONLY | O_APPEND | (create ? (O_CREAT | O_EXCL) : 0);
    uint64_t size = 0;
    const int fd = OpenFileWithSize(path, flags, &size, error);
    if (fd < 0) return false;
    *out = std::make_unique<PosixAppendable>(fd, path, size);
    return true;
  }

  bool CreateWritable(const std::string& path, std::unique_ptr<WritableFile>* out,
                      std::string* error) override {
    const int fd = OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, error);
    if (fd < 0) return false;
    *out = std::make_unique<PosixWritable>(fd, path);
    return true;
  }

  bool Truncate(const std::string& path, uint64_t size, std::string* error) override {
    const int fd = OpenFile(path, O_WRONLY, error);
    if (fd < 0) return false;
    bool ok = ::ftruncate(fd, static_cast<off_t>(size)) == 0;
    if (!ok) *error = ErrnoMessage("ftruncate", path);
    if (ok && ::fsync(fd) != 0) {
      *error = ErrnoMessage("fsync", path);
      ok = false;
    }
    ::close(fd);
    return ok;
  }

  bool SyncDir(const std::string& dir, std::string* error) override {
    const int fd = OpenFile(dir, O_RDONLY | O_DIRECTORY, error);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    if (!ok) *error = ErrnoMessage("fsync", dir);
    ::close(fd);
    return ok;
  }

  bool ListDir(const std::string& dir, std::vector<std::string>* names,
               std::string* error) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      *error = ErrnoMessage("opendir", dir);
      return false;
    }
    names->clear();
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names->push_back(n);
    }
    ::closedir(d);
    return true;
  }

  bool Exists(const std::string& path) override {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }

  bool Remove(const std::string& path, std::string* error) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      *error = ErrnoMessage("unlink", path);
      return false;
    }
    return true;
  }

  bool Rename(const std::string& from, const std::string& to, std::string* error) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      *error = ErrnoMessage("rename", from);
      return false;
    }
    return true;
  }

  bool EnsureDir(const std::string& dir, bool create, std::string* error) override {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      if (!create) {
        *error = ErrnoMessage("stat", dir);
        return false;
      }
      if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        *error = ErrnoMessage("mkdir", dir);
        return false;
      }
      return true;
    }
    if (!S_ISDIR(st.st_mode)) {
      *error = dir + ": not a directory";
      return false;
    }
    return true;
  }

  bool LockFile(const std::string& path, std::unique_ptr<FileLock>* out,
                std::string* error) override {
    const int fd = OpenFile(path, O_RDWR | O_CREAT, error);
    if (fd < 0) return false;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      *error = errno == EWOULDBLOCK ? path +
                                          ": held by another process (a daemon or a jwtgate "
                                          "revoke owns this state directory)"
                                    : ErrnoMessage("flock", path);
      ::close(fd);
      return false;
    }
    *out = std::make_unique<PosixLock>(fd);
    return true;
  }
};

}  // namespace

FileEnv* DefaultFileEnv() {
  // Never destroyed: stores may be destroyed during static destruction.
  static PosixFileEnv* env = new PosixFileEnv();
  return env;
}

}  // namespace jwtgate
