// jwtgated: the JWT verifier daemon behind nginx auth_request, Envoy ext_authz (HTTP),
// Traefik ForwardAuth and Caddy forward_auth.
//
//   jwtgated --config FILE [--auth-listen ADDR] [--admin-listen ADDR] [--workers N]
//            [--io-threads N] [--cache-entries N] [--revocation-dir DIR] [--check-config]
//
// Exit status: one per class of error, the same under --check-config as for a start
// (daemon/startup.h): 0 ok, 2 command line, 3 configuration file, 4 key material (key files,
// admin token file), 5 revocation state, 6 system (io_uring, listener addresses).
#include <jwtgate_build_info.h>  // generated: JWTGATE_GIT_COMMIT
#include <signal.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/startup.h"
#include "jwtgate/version.h"

namespace {

using jwtgate::daemon::Log;
using jwtgate::daemon::LogLevel;

constexpr char kExitStatusHelp[] =
    "Exit status (the same under --check-config as for a start):\n"
    "  0  ok: a graceful shutdown, or a configuration that passed every check\n"
    "  2  command line\n"
    "  3  configuration file: unreadable, not YAML, unknown key, wrong type, out of range,\n"
    "     an admin listener off loopback without admin.token_file\n"
    "  4  key material: a jwks_file or admin.token_file missing, unreadable, invalid, or\n"
    "     readable by every user\n"
    "  5  revocation state: revocation.dir cannot be created or written, or does not recover\n"
    "  6  system: io_uring unavailable, a listener address that cannot be bound\n";

int CheckOnly(const jwtgate::daemon::Config& config, const std::string& path) {
  std::string summary;
  std::vector<std::string> warnings;
  const jwtgate::daemon::CheckResult r = jwtgate::daemon::CheckStartup(config, &summary, &warnings);
  for (const std::string& w : warnings) Log(LogLevel::kWarning, "{}", w);
  if (!r.ok()) {
    Log(LogLevel::kError, "{}", r.error);
    return r.code;
  }
  Log(LogLevel::kInfo, "{}: configuration ok: {}", path, summary);
  return jwtgate::daemon::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  using jwtgate::daemon::kExitConfig;
  using jwtgate::daemon::kExitUsage;

  CLI::App app{
      "jwtgated: JWT verification for reverse proxies (auth_request, ext_authz, "
      "ForwardAuth)"};
  app.footer(kExitStatusHelp);
  app.set_version_flag("--version",
                       std::string("jwtgated " JWTGATE_VERSION_STRING) +
                           (sizeof(JWTGATE_GIT_COMMIT) > 1 ? " (git " JWTGATE_GIT_COMMIT ")" : ""));
  std::string config_path;
  bool check_only = false;
  jwtgate::daemon::ConfigOverrides o;
  std::string auth_listen, admin_listen, revocation_dir;
  unsigned workers = 0, io_threads = 0;
  size_t cache_entries = 0;
  app.add_option("-c,--config", config_path, "YAML configuration file")->required();
  app.add_flag("-t,--check-config", check_only,
               "Run every check of a start (configuration, key files, admin token, revocation "
               "state, io_uring) short of binding the listeners, then exit (0 when valid)");
  CLI::Option* o_auth =
      app.add_option("--auth-listen", auth_listen, "Auth listener address (overrides auth.listen)");
  CLI::Option* o_admin = app.add_option("--admin-listen", admin_listen,
                                        "Admin listener address (overrides admin.listen)");
  CLI::Option* o_workers = app.add_option(
      "--workers", workers, "Verification workers, 0 = one per core (overrides pipeline.workers)");
  CLI::Option* o_io =
      app.add_option("--io-threads", io_threads, "Auth I/O threads (overrides io_threads)")
          ->check(CLI::Range(1, 64));
  CLI::Option* o_cache =
      app.add_option("--cache-entries", cache_entries,
                     "Verified-token cache entries, 0 = off (overrides cache.entries)");
  CLI::Option* o_rev = app.add_option("--revocation-dir", revocation_dir,
                                      "Revocation state directory (overrides revocation.dir)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (o_auth->count() != 0) o.auth_listen = auth_listen;
  if (o_admin->count() != 0) o.admin_listen = admin_listen;
  if (o_workers->count() != 0) o.workers = workers;
  if (o_io->count() != 0) o.io_threads = io_threads;
  if (o_cache->count() != 0) o.cache_entries = cache_entries;
  if (o_rev->count() != 0) o.revocation_dir = revocation_dir;

  jwtgate::daemon::Config config;
  std::string error;
  if (!jwtgate::daemon::LoadConfigFile(config_path, &config, &error)) {
    Log(LogLevel::kError, "{}", error);
    return kExitConfig;
  }
  jwtgate::daemon::ApplyOverrides(o, &config);
  if (!jwtgate::daemon::ValidateConfig(config, &error)) {
    Log(LogLevel::kError, "{}", error);
    return kExitConfig;
  }
  if (check_only) return CheckOnly(config, config_path);

  // Signals are taken from a signalfd on the main thread; block them before any thread starts
  // so that every thread inherits the mask.
  jwtgate::daemon::Daemon::BlockSignals();
  signal(SIGPIPE, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);  // no log files to reopen: logs go to stderr

  jwtgate::daemon::Daemon daemon(std::move(config), o, config_path);
  return daemon.Run();
}
