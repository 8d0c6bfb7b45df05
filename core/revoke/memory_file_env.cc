// NewMemoryFileEnv: files and directories in memory, for tests and fuzzing. One mutex guards
// the whole file system: the users are tests and fuzz targets, never a hot path.
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "base/thread_annotations.h"
#include "jwtgate/file_env.h"
#include "revoke/file_io.h"

namespace jwtgate {
namespace {

using revoke::ErrnoMessage;

// The state every object of one MemoryFileEnv shares; files outlive open handles the way
// POSIX inodes do not need to: a removed file's handle writes into nothing.
struct MemoryFs {
  base::Mutex mu;
  std::set<std::string> dirs JWTGATE_GUARDED_BY(mu);
  std::map<std::string, std::vector<uint8_t>> files JWTGATE_GUARDED_BY(mu);
  std::set<std::string> locks JWTGATE_GUARDED_BY(mu);

  static std::string DirOf(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
  }
  bool DirExistsLocked(const std::string& dir) const JWTGATE_REQUIRES(mu) {
    return dir.empty() || dirs.count(dir) != 0;
  }
  // The bytes of the file at `path`; null, with open's ENOENT message, when there is none.
  std::vector<uint8_t>* FindLocked(const std::string& path, std::string* error)
      JWTGATE_REQUIRES(mu) {
    auto it = files.find(path);
    if (it != files.end()) return &it->second;
    *error = ErrnoMessage("open", path, ENOENT);
    return nullptr;
  }
  // Whether a file can be created at `path`: false, with open's ENOENT message, when its
  // directory does not exist.
  bool CanCreateLocked(const std::string& path, std::string* error) const JWTGATE_REQUIRES(mu) {
    if (DirExistsLocked(DirOf(path))) return true;
    *error = ErrnoMessage("open", path, ENOENT);
    return false;
  }
};

class MemoryImage final : public FileImage {
 public:
  explicit MemoryImage(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  const uint8_t* data() const noexcept override { return bytes_.empty() ? nullptr : bytes_.data(); }
  size_t size() const noexcept override { return bytes_.size(); }

 private:
  const std::vector<uint8_t> bytes_;
};

class MemoryAppendable final : public AppendableFile {
 public:
  MemoryAppendable(std::shared_ptr<MemoryFs> fs, std::string path, uint64_t size)
      : fs_(std::move(fs)), path_(std::move(path)), size_(size) {}
  bool Append(const void* data, size_t n, std::string*) override {
    base::MutexLock l(&fs_->mu);
    size_ += n;
    auto it = fs_->files.find(path_);
    if (it == fs_->files.end()) return true;  // removed while open: the bytes go nowhere
    const auto* p = static_cast<const uint8_t*>(data);
    it->second.insert(it->second.end(), p, p + n);
    return true;
  }
  bool Sync(std::string*) override { return true; }
  uint64_t size() const noexcept override { return size_; }

 private:
  const std::shared_ptr<MemoryFs> fs_;
  const std::string path_;
  uint64_t size_;
};

class MemoryWritable final : public WritableFile {
 public:
  MemoryWritable(std::shared_ptr<MemoryFs> fs, std::string path)
      : fs_(std::move(fs)), path_(std::move(path)) {}
  bool Write(const void* data, size_t n, std::string*) override {
    base::MutexLock l(&fs_->mu);
    const auto* p = static_cast<const uint8_t*>(data);
    std::vector<uint8_t>& f = fs_->files[path_];
    f.insert(f.end(), p, p + n);
    return true;
  }
  bool WriteAt(uint64_t offset, const void* data, size_t n, std::string* error) override {
    base::MutexLock l(&fs_->mu);
    std::vector<uint8_t>& f = fs_->files[path_];
    if (offset > f.size() || n > f.size() - offset) {
      *error = ErrnoMessage("pwrite", path_, EINVAL);
      return false;
    }
    std::memcpy(f.data() + offset, data, n);
    return true;
  }
  bool Sync(std::string*) override { return true; }

 private:
  const std::shared_ptr<MemoryFs> fs_;
  const std::string path_;
};

class MemoryLock final : public FileLock {
 public:
  MemoryLock(std::shared_ptr<MemoryFs> fs, std::string path)
      : fs_(std::move(fs)), path_(std::move(path)) {}
  ~MemoryLock() override {
    base::MutexLock l(&fs_->mu);
    fs_->locks.erase(path_);
  }

 private:
  const std::shared_ptr<MemoryFs> fs_;
  const std::string path_;
};

class MemoryFileEnv final : public FileEnv {
 public:
  bool ReadFile(const std::string& path, std::unique_ptr<FileImage>* out,
                std::string* error) override {
    base::MutexLock l(&fs_->mu);
    const std::vector<uint8_t>* bytes = fs_->FindLocked(path, error);
    if (bytes == nullptr) return false;
    *out = std::make_unique<MemoryImage>(*bytes);
    return true;
  }

  bool OpenAppendable(const std::string& path, bool create, std::unique_ptr<AppendableFile>* out,
                      std::string* error) override {
    base::MutexLock l(&fs_->mu);
    const std::vector<uint8_t>* bytes;
    if (create) {
      if (fs_->files.count(path) != 0) {
        *error = ErrnoMessage("open", path, EEXIST);
        return false;
      }
      if (!fs_->CanCreateLocked(path, error)) return false;
      bytes = &fs_->files[path];
    } else {
      bytes = fs_->FindLocked(path, error);
      if (bytes == nullptr) return false;
    }
    *out = std::make_unique<MemoryAppendable>(fs_, path, bytes->size());
    return true;
  }

  bool CreateWritable(const std::string& path, std::unique_ptr<WritableFile>* out,
                      std::string* error) override {
    base::MutexLock l(&fs_->mu);
    if (!fs_->CanCreateLocked(path, error)) return false;
    fs_->files[path].clear();
    *out = std::make_unique<MemoryWritable>(fs_, path);
    return true;
  }

  bool Truncate(const std::string& path, uint64_t size, std::string* error) override {
    base::MutexLock l(&fs_->mu);
    std::vector<uint8_t>* bytes = fs_->FindLocked(path, error);
    if (bytes == nullptr) return false;
    bytes->resize(static_cast<size_t>(size));
    return true;
  }

  bool SyncDir(const std::string& dir, std::string* error) override {
    base::MutexLock l(&fs_->mu);
    if (fs_->DirExistsLocked(dir)) return true;
    *error = ErrnoMessage("open", dir, ENOENT);
    return false;
  }

  bool ListDir(const std::string& dir, std::vector<std::string>* names,
               std::string* error) override {
    base::MutexLock l(&fs_->mu);
    if (!fs_->DirExistsLocked(dir)) {
      *error = ErrnoMessage("opendir", dir, ENOENT);
      return false;
    }
    names->clear();
    for (const auto& [path, bytes] : fs_->files) {
      if (MemoryFs::DirOf(path) == dir) names->push_back(path.substr(dir.size() + 1));
    }
    return true;
  }

  bool Exists(const std::string& path) override {
    base::MutexLock l(&fs_->mu);
    return fs_->files.count(path) != 0 || fs_->dirs.count(path) != 0;
  }

  bool Remove(const std::string& path, std::string*) override {
    base::MutexLock l(&fs_->mu);
    fs_->files.erase(path);
    return true;
  }

  bool Rename(const std::string& from, const std::string& to, std::string* error) override {
    base::MutexLock l(&fs_->mu);
    auto it = fs_->files.find(from);
    if (it == fs_->files.end()) {
      *error = ErrnoMessage("rename", from, ENOENT);
      return false;
    }
    std::vector<uint8_t> bytes = std::move(it->second);
    fs_->files.erase(it);
    fs_->files[to] = std::move(bytes);
    return true;
  }

  bool EnsureDir(const std::string& dir, bool create, std::string* error) override {
    base::MutexLock l(&fs_->mu);
    if (fs_->files.count(dir) != 0) {
      *error = dir + ": not a directory";
      return false;
    }
    if (fs_->dirs.count(dir) != 0) return true;
    if (!create || !fs_->DirExistsLocked(MemoryFs::DirOf(dir))) {
      *error = ErrnoMessage(create ? "mkdir" : "stat", dir, ENOENT);
      return false;
    }
    fs_->dirs.insert(dir);
    return true;
  }

  bool LockFile(const std::string& path, std::unique_ptr<FileLock>* out,
                std::string* error) override {
    base::MutexLock l(&fs_->mu);
    if (!fs_->CanCreateLocked(path, error)) return false;
    if (!fs_->locks.insert(path).second) {
      *error = path +
               ": held by another process (a daemon or a jwtgate revoke owns this state "
               "directory)";
      return false;
    }
    fs_->files.try_emplace(path);
    *out = std::make_unique<MemoryLock>(fs_, path);
    return true;
  }

 private:
  const std::shared_ptr<MemoryFs> fs_ = std::make_shared<MemoryFs>();
};

}  // namespace

std::unique_ptr<FileEnv> NewMemoryFileEnv() { return std::make_unique<MemoryFileEnv>(); }

}  // namespace jwtgate
