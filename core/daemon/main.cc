// jwtgated: the JWT verifier daemon behind nginx auth_request, Envoy ext_authz (HTTP),
// Traefik ForwardAuth and Caddy forward_auth.
//
//   jwtgated --config FILE [--auth-listen ADDR] [--admin-listen ADDR] [--workers N]
//            [--io-threads N] [--cache-entries N] [--revocation-dir DIR] [--check-config]
//
// Exit status: 0 after a graceful shutdown or a passing --check-config, 1 when it cannot start,
// 2 on a usage or configuration error.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <string>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/trust.h"

namespace {

constexpr int kExitStartFailure = 1;
constexpr int kExitUsage = 2;

}  // namespace

int main(int argc, char** argv) {
  using jwtgate::daemon::Log;
  using jwtgate::daemon::LogLevel;

  CLI::App app{"jwtgated: JWT verification for reverse proxies (auth_request, ext_authz, "
               "ForwardAuth)"};
  std::string config_path;
  bool check_only = false;
  jwtgate::daemon::ConfigOverrides o;
  std::string auth_listen, admin_listen, revocation_dir;
  unsigned workers = 0, io_threads = 0;
  size_t cache_entries = 0;
  app.add_option("-c,--config", config_path, "YAML configuration file")->required();
  app.add_flag("-t,--check-config", check_only,
               "Check the configuration and the key files, then exit (0 when valid)");
  CLI::Option* o_auth = app.add_option("--auth-listen", auth_listen,
                                       "Auth listener address (overrides auth.listen)");
  CLI::Option* o_admin = app.add_option("--admin-listen", admin_listen,
                                        "Admin listener address (overrides admin.listen)");
  CLI::Option* o_workers =
      app.add_option("--workers", workers, "Verification workers, 0 = one per core (overrides pipeline.workers)");
  CLI::Option* o_io = app.add_option("--io-threads", io_threads, "Auth I/O threads (overrides io_threads)")
                          ->check(CLI::Range(1, 64));
  CLI::Option* o_cache = app.add_option("--cache-entries", cache_entries,
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
    return kExitUsage;
  }
  jwtgate::daemon::ApplyOverrides(o, &config);
  if (!jwtgate::daemon::ValidateConfig(config, &error)) {
    Log(LogLevel::kError, "{}", error);
    return kExitUsage;
  }
  if (check_only) {
    jwtgate::daemon::Trust trust;
    if (!jwtgate::daemon::BuildTrust(config, nullptr, &trust, &error)) {
      Log(LogLevel::kError, "{}", error);
      return kExitUsage;
    }
    Log(LogLevel::kInfo, "{}: configuration ok: {}", config_path, trust.summary);
    return 0;
  }

  // Signals are taken from a signalfd on the main thread; block them before any thread starts
  // so that every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGUSR1, SIG_IGN);  // no log files to reopen: logs go to stderr

  jwtgate::daemon::Daemon daemon(std::move(config), o, config_path);
  const int rc = daemon.Run();
  return rc == 0 ? 0 : kExitStartFailure;
}
