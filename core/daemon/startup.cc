#include "daemon/startup.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string_view>

#include "daemon/trust.h"
#include "jwtgate/revocation.h"
#include "net/listener.h"
#include "net/uring_support.h"
#include "replicate/redis_client.h"

namespace jwtgate::daemon {
namespace {

constexpr size_t kMaxAdminTokenBytes = 4096;

CheckResult Fail(ExitCode code, std::string message) { return {code, std::move(message)}; }

std::string Mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

std::string ParentOf(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  const size_t slash = d.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : d.substr(0, slash);
}

std::string NotWritable(const std::string& path) {
  return path + " is not writable by this user (uid " + std::to_string(::geteuid()) + ")";
}

// Names in `dir` that RevocationStore::Open would take for logs or snapshots.
bool HoldsRevocationFiles(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return false;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string n = e->d_name;
    const auto ends_with = [&n](const char* suffix) {
      const size_t k = std::strlen(suffix);
      return n.size() > k && n.compare(n.size() - k, k, suffix) == 0;
    };
    if (ends_with(".log") || ends_with(".snap")) return true;
  }
  return false;
}

}  // namespace

CheckResult ReadSecretFile(const std::string& setting, const std::string& path,
                           const std::string& exposure, std::string* secret,
                           std::vector<std::string>* warnings) {
  secret->clear();
  if (path.empty()) return {};
  const std::string where = setting + ": " + path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(kExitKeys, where + ": cannot open: " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return Fail(kExitKeys, where + ": is a directory, not a file");
  if ((st.st_mode & S_IROTH) != 0) {
    return Fail(kExitKeys, where + ": readable by every user of this host (mode " +
                               Mode(st.st_mode) + "), " + exposure + "; chmod 600 " + path);
  }
  if ((st.st_mode & S_IRGRP) != 0 && warnings != nullptr) {
    warnings->push_back(where + ": readable by its group (mode " + Mode(st.st_mode) +
                        "); chmod 600 " + path + " unless the group is meant to use it");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(kExitKeys, where + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.empty()) return Fail(kExitKeys, where + ": empty (the secret is the file's first line)");
  if (t.size() > kMaxAdminTokenBytes) {
    return Fail(kExitKeys,
                where + ": longer than " + std::to_string(kMaxAdminTokenBytes) + " bytes");
  }
  for (char c : t) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return Fail(kExitKeys, where + ": must be printable ASCII without spaces");
    }
  }
  *secret = std::move(t);
  return {};
}

CheckResult ReadAdminToken(const std::string& path, std::string* token,
                           std::vector<std::string>* warnings) {
  return ReadSecretFile("admin.token_file", path, "who could then revoke and reload", token,
                        warnings);
}

CheckResult CheckRevocationDir(const Config& config) {
  const std::string& dir = config.revocation_dir;
  if (dir.empty()) return {};
  const std::string where = "revocation.dir " + dir;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return Fail(kExitState, where + ": " + std::strerror(errno));
    // Open creates the directory itself, not its parents.
    const std::string parent = ParentOf(dir);
    if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Fail(kExitState, where + ": cannot be created: its parent " + parent +
                                  " is not an existing directory");
    }
    if (::access(parent.c_str(), W_OK | X_OK) != 0) {
      return Fail(kExitState, where + ": cannot be created: " + NotWritable(parent));
    }
    return {};
  }
  if (!S_ISDIR(st.st_mode)) return Fail(kExitState, where + ": not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Fail(kExitState, where + ": " + NotWritable(dir));
  }
  if (::access((dir + "/STATE").c_str(), F_OK) != 0) {
    if (HoldsRevocationFiles(dir)) {
      return Fail(kExitState, where +
                                  ": holds revocation logs but no STATE file; a start "
                                  "refuses to begin a new state over old revocations");
    }
    return {};  // a start creates the state
  }
  // Recovery, read-only: the checksums, a torn tail, corrupt records; the same options as a
  // start. (A running daemon may hold the directory: reading needs no lock.)
  RevocationOptions ro;
  ro.dir = dir;
  ro.create_if_missing = false;
  ro.read_only = true;
  ro.leeway_s = config.revocation_leeway_s;
  ro.target_fpr = config.revocation_target_fpr;
  std::string error;
  Result<std::unique_ptr<RevocationStore>> r = RevocationStore::Open(ro, &error);
  if (!r.ok()) {
    return Fail(kExitState,
                where + ": " + (error.empty() ? std::string(ToString(r.status())) : error));
  }
  return {};
}

// A listener on a Unix socket (`setting` is "auth.listen" or "admin.listen"): what a start
// needs of its path (an existing directory this user may create the file in; no file there
// that is not a socket), and a warning when other users could replace the socket file.
CheckResult CheckUnixListener(const std::string& setting, const std::string& listen,
                              std::vector<std::string>* warnings) {
  net::SocketAddress addr;
  std::string error;
  if (!net::ParseSocketAddress(listen, &addr, &error) || !net::IsUnix(addr)) return {};
  const std::string path = listen.substr(std::string_view("unix:").size());
  const std::string where = setting + " " + listen;
  const std::string dir = ParentOf(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail(kExitSystem, where + ": the directory " + dir + " does not exist");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Fail(kExitSystem, where + ": " + NotWritable(dir));
  }
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    warnings->push_back(where + ": the directory " + dir + " is writable by every user (mode " +
                        Mode(st.st_mode) +
                        ") without the sticky bit: another user could replace the socket; "
                        "use a directory of the daemon's own (/run/jwtgate)");
  }
  if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    return Fail(kExitSystem, where + ": " + path + " exists and is not a socket");
  }
  return {};
}

CheckResult CheckListenerPaths(const Config& config, std::vector<std::string>* warnings) {
  if (CheckResult r = CheckUnixListener("auth.listen", config.auth_listen, warnings); !r.ok()) {
    return r;
  }
  return CheckUnixListener("admin.listen", config.admin_listen, warnings);
}

CheckResult CheckStartup(const Config& config, std::string* summary,
                         std::vector<std::string>* warnings) {
  for (std::string& w : ConfigWarnings(config)) warnings->push_back(std::move(w));
  std::string error;
  if (!net::CheckIoUringSupport(&error)) return Fail(kExitSystem, error);
  if (CheckResult r = CheckRevocationDir(config); !r.ok()) return r;
  if (CheckResult r = CheckListenerPaths(config, warnings); !r.ok()) return r;
  if (config.replication) {
    std::string host, path, secret;
    int port = 0;
    if (!replicate::ParseRedisAddress(config.replication->redis, &host, &port, &path, &error)) {
      return Fail(kExitConfig, "revocation.replication.redis: " + error);
    }
    if (CheckResult r = ReadSecretFile(
            "revocation.replication.password_file", config.replication->password_file,
            "who could then rewrite every node's revocations", &secret, warnings);
        !r.ok()) {
      return r;
    }
  }
  if (config.decision_log && config.decision_log->path != "stderr") {
    // Not opened here (that would create it); its directory must exist for the start.
    const std::string& file = config.decision_log->path;
    const size_t slash = file.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : file.substr(0, std::max<size_t>(slash, 1));
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Fail(kExitConfig,
                  "decision_log.path " + file + ": the directory " + dir + " does not exist");
    }
  }
  // Remote issuers: their options (URLs, CA file, cache directory) and any cached set; their
  // servers are not asked (a start does that in the background).
  RemoteSnapshots remote(config.issuers.size());
  for (size_t i = 0; i < config.issuers.size(); ++i) {
    if (!config.issuers[i].remote()) continue;
    std::unique_ptr<RemoteKeys> k =
        RemoteKeys::Create(RemoteOptionsFor(config.issuers[i], config.key_cache_dir), &error);
    if (!k) return Fail(kExitConfig, "issuers[" + std::to_string(i) + "]: " + error);
    remote[i] = k->Current();
  }
  Trust trust;
  if (!BuildTrust(config, nullptr, &trust, &error, remote)) return Fail(kExitKeys, error);
  std::string token;
  if (CheckResult r = ReadAdminToken(config.admin_token_file, &token, warnings); !r.ok()) {
    return r;
  }
  *summary = trust.summary;
  return {};
}

}  // namespace jwtgate::daemon
