#include "revoke/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace jwtgate::revoke {
namespace {

constexpr size_t kSnapshotBuffer = size_t{1} << 20;

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

bool PwriteAll(int fd, const void* data, size_t n, uint64_t offset, const std::string& path,
               std::string* error) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      *error = ErrnoMessage("pwrite", path);
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return true;
}

}  // namespace

std::string ErrnoMessage(std::string_view op, const std::string& path) {
  const int e = errno;
  std::string m(op);
  m += "(" + path + "): ";
  m += std::strerror(e);
  return m;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

MappedFile::~MappedFile() { Close(); }

MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    Close();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

void MappedFile::Close() noexcept {
  if (data_ != nullptr) munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

bool MappedFile::Open(const std::string& path, std::string* error) {
  Close();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = ErrnoMessage("open", path);
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *error = ErrnoMessage("fstat", path);
    ::close(fd);
    return false;
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
      *error = ErrnoMessage("mmap", path);
      size_ = 0;
      ::close(fd);
      return false;
    }
    data_ = static_cast<uint8_t*>(p);
    madvise(data_, size_, MADV_SEQUENTIAL);
  }
  ::close(fd);
  return true;
}

AppendFile::~AppendFile() { Close(); }

bool AppendFile::Open(const std::string& path, bool create, std::string* error) {
  Close();
  path_ = path;
  const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? (O_CREAT | O_EXCL) : 0);
  fd_ = ::open(path.c_str(), flags, 0600);
  if (fd_ < 0) {
    *error = ErrnoMessage("open", path);
    return false;
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0) {
    *error = ErrnoMessage("fstat", path);
    Close();
    return false;
  }
  size_ = static_cast<uint64_t>(st.st_size);
  return true;
}

bool AppendFile::Append(const void* data, size_t n, std::string* error) {
  if (!WriteAll(fd_, data, n, path_, error)) return false;
  size_ += n;
  return true;
}

bool AppendFile::Sync(std::string* error) {
  if (::fdatasync(fd_) != 0) {
    *error = ErrnoMessage("fdatasync", path_);
    return false;
  }
  return true;
}

void AppendFile::Close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SyncDir(const std::string& dir, std::string* error) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = ErrnoMessage("open", dir);
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  if (!ok) *error = ErrnoMessage("fsync", dir);
  ::close(fd);
  return ok;
}

bool TruncateFile(const std::string& path, uint64_t size, std::string* error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = ErrnoMessage("open", path);
    return false;
  }
  bool ok = ::ftruncate(fd, static_cast<off_t>(size)) == 0;
  if (!ok) *error = ErrnoMessage("ftruncate", path);
  if (ok && ::fsync(fd) != 0) {
    *error = ErrnoMessage("fsync", path);
    ok = false;
  }
  ::close(fd);
  return ok;
}

bool WriteFileDurably(const std::string& dir, const std::string& name, const void* data, size_t n,
                      std::string* error) {
  const std::string path = JoinPath(dir, name);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = ErrnoMessage("open", tmp);
    return false;
  }
  bool ok = WriteAll(fd, data, n, tmp, error);
  if (ok && ::fsync(fd) != 0) {
    *error = ErrnoMessage("fsync", tmp);
    ok = false;
  }
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = ErrnoMessage("rename", tmp);
    ok = false;
  }
  return ok && SyncDir(dir, error);
}

bool ListDir(const std::string& dir, std::vector<std::string>* names, std::string* error) {
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

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool RemoveFile(const std::string& path, std::string* error) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    *error = ErrnoMessage("unlink", path);
    return false;
  }
  return true;
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

bool DirLock::Acquire(const std::string& path, std::string* error) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *error = ErrnoMessage("open", path);
    return false;
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    *error = errno == EWOULDBLOCK ? path +
                                        ": held by another process (a daemon or a jwtgate "
                                        "revoke owns this state directory)"
                                  : ErrnoMessage("flock", path);
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  return true;
}

SnapshotWriter::~SnapshotWriter() {
  if (fd_ >= 0) ::close(fd_);
}

bool SnapshotWriter::Create(const std::string& path, std::string* error) {
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *error = ErrnoMessage("open", path);
    return false;
  }
  buf_.reserve(kSnapshotBuffer);
  return true;
}

bool SnapshotWriter::Write(const void* data, size_t n, std::string* error) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (buf_.size() + n > kSnapshotBuffer && !Flush(error)) return false;
  if (n >= kSnapshotBuffer) {
    if (!WriteAll(fd_, p, n, path_, error)) return false;
    flushed_ += n;
    return true;
  }
  buf_.insert(buf_.end(), p, p + n);
  return true;
}

bool SnapshotWriter::Flush(std::string* error) {
  if (buf_.empty()) return true;
  if (!WriteAll(fd_, buf_.data(), buf_.size(), path_, error)) return false;
  flushed_ += buf_.size();
  buf_.clear();
  return true;
}

bool SnapshotWriter::PatchAt(uint64_t offset, const void* data, size_t n, std::string* error) {
  if (!Flush(error)) return false;
  return PwriteAll(fd_, data, n, offset, path_, error);
}

bool SnapshotWriter::Finish(std::string* error) {
  if (!Flush(error)) return false;
  if (::fsync(fd_) != 0) {
    *error = ErrnoMessage("fsync", path_);
    return false;
  }
  ::close(fd_);
  fd_ = -1;
  return true;
}

}  // namespace jwtgate::revoke
