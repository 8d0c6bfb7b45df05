// The servers of the end-to-end rows (e2e.h), one started per row on loopback: jwtgated with
// the row's key, cache and revocation state, or nginx answering `return 200` (S0, the HTTP
// floor). A Server knows the processes to account CPU and memory to, and jwtgated's admin port
// for its /metrics.
#ifndef JWTGATE_BENCH_STRATEGIES_E2E_SERVERS_H_
#define JWTGATE_BENCH_STRATEGIES_E2E_SERVERS_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "document.h"
#include "e2e.h"

namespace jwtgate::bench {

struct Server {
  std::unique_ptr<ChildProcess> process;
  std::string group;             // "daemon" or "nginx"
  std::vector<int> pids;         // for the CPU and memory accounting
  int port = 0;                  // where the load goes
  int admin_port = 0;            // jwtgated only
  double start_seconds = 0;      // start to listening (and ready)
  double recovery_seconds = -1;  // jwtgated's revocation recovery, from its log
  std::string log;
  std::string description;
  Json config;
};

struct DaemonSpec {
  std::string jwks;
  size_t cache_entries = 0;
  std::string revocation_dir;  // empty: none
};

// Starts jwtgated with a configuration written to WORKDIR/<label>.yaml and waits until its
// admin API answers /readyz. Throws std::runtime_error (the log is named in the message).
Server StartDaemon(const E2eOptions& o, const DaemonSpec& d, const std::string& label);

// Starts nginx (worker_processes auto, `location / { return 200; }`) and waits for its workers.
// Throws std::runtime_error.
Server StartNginx(const E2eOptions& o);

// The samples of jwtgated's /metrics that the rows report (labels kept in the key); empty for
// nginx or when the admin API does not answer.
std::map<std::string, double> ScrapeMetrics(const Server& s);

// The first line of `nginx -v`, or empty.
std::string NginxVersion(const std::string& nginx);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_E2E_SERVERS_H_
