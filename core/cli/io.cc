#include "cli/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace jwtgate::cli {
namespace {

std::string Octal(unsigned mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777u);
  return buf;
}

}  // namespace

ReadResult ReadFileUpTo(const std::string& path, size_t max_bytes, std::string* out,
                        std::string* error) {
  const bool is_stdin = path == "-";
  const int fd = is_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": " + std::strerror(errno);
    return ReadResult::kError;
  }
  auto fail = [&](ReadResult r, std::string why) {
    *error = path + ": " + std::move(why);
    if (!is_stdin) ::close(fd);
    return r;
  };
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail(ReadResult::kError, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fail(ReadResult::kError, "is a directory");
  out->clear();
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ReadResult::kError, std::strerror(errno));
    }
    if (n == 0) break;
    if (out->size() + static_cast<size_t>(n) > max_bytes) {
      return fail(ReadResult::kTooLarge, "larger than " + std::to_string(max_bytes) + " bytes");
    }
    out->append(buf, static_cast<size_t>(n));
  }
  if (!is_stdin) ::close(fd);
  return ReadResult::kOk;
}

bool ReadFile(const std::string& path, size_t max_bytes, std::string* out, std::string* error) {
  return ReadFileUpTo(path, max_bytes, out, error) == ReadResult::kOk;
}

bool WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode, ModeRule rule,
                     std::string* error) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  // A leftover temp file (a crash with the same pid) would keep its own mode under O_TRUNC, and
  // a symlink there would redirect the write: start from nothing, and create it exclusively.
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        static_cast<mode_t>(mode & 07777u));
  if (fd < 0) {
    *error = tmp + ": " + std::strerror(errno);
    return false;
  }
  auto fail = [&](const std::string& what) {
    *error = what + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  };
  // open(2) applied the umask; the exact mode is set before the first byte is written.
  if (rule == ModeRule::kExact && ::fchmod(fd, static_cast<mode_t>(mode & 07777u)) != 0) {
    return fail(tmp);
  }
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail(tmp);
  if (::close(fd) != 0) {
    *error = tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

std::optional<unsigned> PermissionBits(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<unsigned>(st.st_mode & 07777);
}

std::string ReadableByOthersWarning(const std::string& path, std::string_view what) {
  if (path == "-") return {};
  const std::optional<unsigned> mode = PermissionBits(path);
  if (!mode || (*mode & 0044u) == 0) return {};
  return "warning: " + path + " holds " + std::string(what) +
         " and is readable by other users (mode " + Octal(*mode) + "); chmod 600 " + path;
}

std::string_view Trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace jwtgate::cli
