// What jwtgated checks before it serves, shared by a start and by --check-config, so that a
// configuration --check-config passes does not then fail to start (systemd runs
// --check-config as ExecStartPre, and a unit that passes it and then fails restarts in a loop).
//
// Exit status, one per class of error (`jwtgated --help` and the README list them):
//   0  served and shut down gracefully, or --check-config found nothing wrong
//   2  the command line
//   3  the configuration file: unreadable, not YAML, an unknown key, a wrong type, a value out
//      of range, a cross-field rule (an admin listener off loopback without a token file)
//   4  key material: an issuers[].jwks_file or admin.token_file missing, unreadable, invalid
//      or readable by every user of the host
//   5  the revocation state: revocation.dir cannot be created, is not writable, or its state
//      cannot be recovered (a corrupt log, a directory held by another process), or its
//      replication journal cannot be opened
//   6  the system: io_uring unavailable, a listener address that cannot be bound
// --check-config performs every check of a start except binding the listeners and taking the
// revocation directory's lock (it reads the state read-only, as `jwtgate verify --state`
// does), so it exits 0, 2, 3, 4, 5 or 6 (6: io_uring only).
#ifndef JWTGATE_DAEMON_STARTUP_H_
#define JWTGATE_DAEMON_STARTUP_H_

#include <string>
#include <vector>

#include "daemon/config.h"

namespace jwtgate::daemon {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitConfig = 3,
  kExitKeys = 4,
  kExitState = 5,
  kExitSystem = 6,
};

// A check's outcome: kExitOk, or the class of the problem and a message naming the setting,
// the file and what is wrong with it.
struct CheckResult {
  ExitCode code = kExitOk;
  std::string error;
  bool ok() const { return code == kExitOk; }
};

// Reads the admin token from admin.token_file (empty path: no token). Refuses a file that
// every user of the host can read (anyone could then revoke and reload) and adds a warning
// for one its group can read. kExitKeys on failure.
CheckResult ReadAdminToken(const std::string& path, std::string* token,
                           std::vector<std::string>* warnings);

// The same rules for any secret kept in a file (revocation.replication.password_file):
// `setting` names the key in messages, `exposure` says what a reader could do with it.
CheckResult ReadSecretFile(const std::string& setting, const std::string& path,
                           const std::string& exposure, std::string* secret,
                           std::vector<std::string>* warnings);

// What RevocationStore::Open would find in revocation.dir, creating and changing nothing:
// the directory, or its parent when it does not exist yet, must be a writable directory, and
// an existing state must recover (opened read-only). kExitState on failure.
CheckResult CheckRevocationDir(const Config& config);

// Listeners on Unix sockets: the directory exists and this user may create the socket in it,
// and nothing but a socket is at the path (exit 6 otherwise, as the bind would fail); a
// warning when the directory is writable by every user without the sticky bit. Nothing for
// TCP listeners.
CheckResult CheckListenerPaths(const Config& config, std::vector<std::string>* warnings);

// Every check of a start short of binding sockets and locking the revocation directory:
// io_uring, the revocation directory, the paths of Unix-socket listeners, every key file, the
// admin token file. On success
// `*summary` describes the trust (issuers, keys). `warnings` collects what is allowed but
// risky (ConfigWarnings included).
CheckResult CheckStartup(const Config& config, std::string* summary,
                         std::vector<std::string>* warnings);

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_STARTUP_H_
