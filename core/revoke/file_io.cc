#include "revoke/file_io.h"

#include <cerrno>
#include <cstring>

namespace jwtgate::revoke {
namespace {

// Snapshot writes are gathered into writes of this size.
constexpr size_t kSnapshotBuffer = size_t{1} << 20;

}  // namespace

std::string ErrnoMessage(std::string_view op, const std::string& path) {
  return ErrnoMessage(op, path, errno);
}

std::string ErrnoMessage(std::string_view op, const std::string& path, int e) {
  std::string m(op);
  m += "(" + path + "): ";
  m += std::strerror(e);
  return m;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

bool WriteFileDurably(FileEnv& env, const std::string& dir, const std::string& name,
                      const void* data, size_t n, std::string* error) {
  const std::string path = JoinPath(dir, name);
  const std::string tmp = path + ".tmp";
  std::unique_ptr<WritableFile> f;
  if (!env.CreateWritable(tmp, &f, error) || !f->Write(data, n, error) || !f->Sync(error)) {
    return false;
  }
  f.reset();
  return env.Rename(tmp, path, error) && env.SyncDir(dir, error);
}

bool SnapshotWriter::Create(const std::string& path, std::string* error) {
  if (!env_.CreateWritable(path, &file_, error)) return false;
  buf_.reserve(kSnapshotBuffer);
  flushed_ = 0;
  return true;
}

bool SnapshotWriter::Write(const void* data, size_t n, std::string* error) {
  if (buf_.size() + n > kSnapshotBuffer && !Flush(error)) return false;
  if (n >= kSnapshotBuffer) {
    if (!file_->Write(data, n, error)) return false;
    flushed_ += n;
    return true;
  }
  const auto* p = static_cast<const uint8_t*>(data);
  buf_.insert(buf_.end(), p, p + n);
  return true;
}

bool SnapshotWriter::Flush(std::string* error) {
  if (buf_.empty()) return true;
  if (!file_->Write(buf_.data(), buf_.size(), error)) return false;
  flushed_ += buf_.size();
  buf_.clear();
  return true;
}

bool SnapshotWriter::PatchAt(uint64_t offset, const void* data, size_t n, std::string* error) {
  return Flush(error) && file_->WriteAt(offset, data, n, error);
}

bool SnapshotWriter::Finish(std::string* error) {
  if (!Flush(error) || !file_->Sync(error)) return false;
  file_.reset();
  return true;
}

}  // namespace jwtgate::revoke
