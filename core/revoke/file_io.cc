#include "revoke/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace jwtgate::revoke {
namespace {

constexpr size_t kSnapshotBuffer = size_t{1} << 20;

std::atomic<MemoryFileSystem*> g_memory_fs{nullptr};

MemoryFileSystem* Memory() noexcept {
  // acquire: pairs with Install's release store (the object is constructed before).
  return g_memory_fs.load(std::memory_order_acquire);
}

// The message the POSIX call would have given with errno `e`.
std::string MemoryError(std::string_view op, const std::string& path, int e) {
  errno = e;
  return ErrnoMessage(op, path);
}

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

// Moving a vector keeps its buffer, so data_ stays valid for in-memory files too.
MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      copy_(std::move(o.copy_)) {
  o.copy_.clear();
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    Close();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    copy_ = std::move(o.copy_);
    o.copy_.clear();
  }
  return *this;
}

void MappedFile::Close() noexcept {
  if (data_ != nullptr && copy_.empty()) munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
  copy_.clear();
}

bool MappedFile::Open(const std::string& path, std::string* error) {
  Close();
  if (MemoryFileSystem* m = Memory()) {
    if (!m->ReadFile(path, &copy_)) {
      *error = MemoryError("open", path, ENOENT);
      return false;
    }
    size_ = copy_.size();
    data_ = copy_.empty() ? nullptr : copy_.data();
    return true;
  }
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
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    auto it = m->files_.find(path);
    if (create) {
      if (it != m->files_.end()) {
        *error = MemoryError("open", path, EEXIST);
        return false;
      }
      if (!m->DirExistsLocked(MemoryFileSystem::DirOf(path))) {
        *error = MemoryError("open", path, ENOENT);
        return false;
      }
      it = m->files_.emplace(path, std::vector<uint8_t>()).first;
    } else if (it == m->files_.end()) {
      *error = MemoryError("open", path, ENOENT);
      return false;
    }
    size_ = it->second.size();
    in_memory_ = true;
    return true;
  }
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
  if (in_memory_) {
    MemoryFileSystem* m = Memory();
    std::lock_guard<std::mutex> l(m->mu_);
    auto it = m->files_.find(path_);
    if (it == m->files_.end()) {  // removed while open: the bytes go nowhere, as on POSIX
      size_ += n;
      return true;
    }
    const auto* p = static_cast<const uint8_t*>(data);
    it->second.insert(it->second.end(), p, p + n);
    size_ += n;
    return true;
  }
  if (!WriteAll(fd_, data, n, path_, error)) return false;
  size_ += n;
  return true;
}

bool AppendFile::Sync(std::string* error) {
  if (in_memory_) return true;
  if (::fdatasync(fd_) != 0) {
    *error = ErrnoMessage("fdatasync", path_);
    return false;
  }
  return true;
}

void AppendFile::Close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  in_memory_ = false;
}

bool SyncDir(const std::string& dir, std::string* error) {
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    if (m->DirExistsLocked(dir)) return true;
    *error = MemoryError("open", dir, ENOENT);
    return false;
  }
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
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    auto it = m->files_.find(path);
    if (it == m->files_.end()) {
      *error = MemoryError("open", path, ENOENT);
      return false;
    }
    it->second.resize(static_cast<size_t>(size));
    return true;
  }
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
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    if (!m->DirExistsLocked(dir)) {
      *error = MemoryError("open", tmp, ENOENT);
      return false;
    }
    const auto* p = static_cast<const uint8_t*>(data);
    m->files_[path].assign(p, p + n);
    return true;
  }
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
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    if (!m->DirExistsLocked(dir)) {
      *error = MemoryError("opendir", dir, ENOENT);
      return false;
    }
    names->clear();
    for (const auto& [path, bytes] : m->files_) {
      if (MemoryFileSystem::DirOf(path) == dir) names->push_back(path.substr(dir.size() + 1));
    }
    return true;
  }
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
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    return m->files_.count(path) != 0 || m->dirs_.count(path) != 0;
  }
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool RemoveFile(const std::string& path, std::string* error) {
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    m->files_.erase(path);
    return true;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    *error = ErrnoMessage("unlink", path);
    return false;
  }
  return true;
}

bool RenameFile(const std::string& from, const std::string& to, std::string* error) {
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    auto it = m->files_.find(from);
    if (it == m->files_.end()) {
      *error = MemoryError("rename", from, ENOENT);
      return false;
    }
    std::vector<uint8_t> bytes = std::move(it->second);
    m->files_.erase(it);
    m->files_[to] = std::move(bytes);
    return true;
  }
  if (::rename(from.c_str(), to.c_str()) != 0) {
    *error = ErrnoMessage("rename", from);
    return false;
  }
  return true;
}

bool EnsureDir(const std::string& dir, bool create, std::string* error) {
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    if (m->files_.count(dir) != 0) {
      *error = dir + ": not a directory";
      return false;
    }
    if (m->dirs_.count(dir) != 0) return true;
    if (!create) {
      *error = MemoryError("stat", dir, ENOENT);
      return false;
    }
    m->dirs_.insert(dir);
    return true;
  }
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

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  if (!memory_path_.empty()) {
    if (MemoryFileSystem* m = Memory()) {
      std::lock_guard<std::mutex> l(m->mu_);
      m->locks_.erase(memory_path_);
    }
  }
}

bool DirLock::Acquire(const std::string& path, std::string* error) {
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    if (!m->DirExistsLocked(MemoryFileSystem::DirOf(path))) {
      *error = MemoryError("open", path, ENOENT);
      return false;
    }
    if (!m->locks_.insert(path).second) {
      *error = path + ": held by another process (a daemon or a jwtgate revoke owns this state "
                      "directory)";
      return false;
    }
    m->files_.try_emplace(path);
    memory_path_ = path;
    return true;
  }
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
  if (MemoryFileSystem* m = Memory()) {
    std::lock_guard<std::mutex> l(m->mu_);
    if (!m->DirExistsLocked(MemoryFileSystem::DirOf(path))) {
      *error = MemoryError("open", path, ENOENT);
      return false;
    }
    m->files_[path].clear();
    in_memory_ = true;
    return true;
  }
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
  if (in_memory_) {
    MemoryFileSystem* m = Memory();
    std::lock_guard<std::mutex> l(m->mu_);
    std::vector<uint8_t>& f = m->files_[path_];
    f.insert(f.end(), p, p + n);
    flushed_ += n;
    return true;
  }
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
  if (in_memory_) {
    MemoryFileSystem* m = Memory();
    std::lock_guard<std::mutex> l(m->mu_);
    std::vector<uint8_t>& f = m->files_[path_];
    if (offset > f.size() || n > f.size() - offset) {
      *error = MemoryError("pwrite", path_, EINVAL);
      return false;
    }
    std::memcpy(f.data() + offset, data, n);
    return true;
  }
  if (!Flush(error)) return false;
  return PwriteAll(fd_, data, n, offset, path_, error);
}

bool SnapshotWriter::Finish(std::string* error) {
  if (in_memory_) {
    in_memory_ = false;
    return true;
  }
  if (!Flush(error)) return false;
  if (::fsync(fd_) != 0) {
    *error = ErrnoMessage("fsync", path_);
    return false;
  }
  ::close(fd_);
  fd_ = -1;
  return true;
}

void MemoryFileSystem::Install(MemoryFileSystem* fs) noexcept {
  g_memory_fs.store(fs, std::memory_order_release);
}

MemoryFileSystem* MemoryFileSystem::Installed() noexcept { return Memory(); }

std::string MemoryFileSystem::DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

bool MemoryFileSystem::DirExistsLocked(const std::string& dir) const {
  return dir.empty() || dirs_.count(dir) != 0;
}

void MemoryFileSystem::MakeDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  dirs_.insert(dir);
}

void MemoryFileSystem::WriteFile(const std::string& path, const void* data, size_t n) {
  std::lock_guard<std::mutex> l(mu_);
  const auto* p = static_cast<const uint8_t*>(data);
  files_[path].assign(p, p + n);
}

bool MemoryFileSystem::ReadFile(const std::string& path, std::vector<uint8_t>* out) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return false;
  *out = it->second;
  return true;
}

void MemoryFileSystem::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  dirs_.clear();
  files_.clear();
  locks_.clear();
}

}  // namespace jwtgate::revoke
