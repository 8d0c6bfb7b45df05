// Daemon: jwtgated's process. Owns the revocation store, the verified-token cache, the
// pipeline, the I/O threads (one HttpServer + AuthHandler each) and, on the calling thread,
// the admin listener and the signals.
//
//   start:   check io_uring, open the revocation state, build the verifier from the keys,
//            start the pipeline, bind the listeners, start the I/O threads, sd_notify READY=1
//   SIGHUP / POST /reload:
//            RELOADING=1, read the configuration and keys again, swap the verifier atomically
//            (Pipeline::SetVerifier); on any error keep the running one; READY=1
//   SIGTERM / SIGINT:
//            STOPPING=1, /readyz turns 503, listeners stop accepting, idle connections close,
//            requests in flight are answered, then the pipeline drains and the process exits 0.
//            After shutdown.drain_timeout_ms, or on a second signal, remaining connections are
//            dropped.
#ifndef JWTGATE_DAEMON_DAEMON_H_
#define JWTGATE_DAEMON_DAEMON_H_

#include <memory>
#include <string>

#include "daemon/config.h"

namespace jwtgate::daemon {

class Daemon {
 public:
  Daemon(Config config, ConfigOverrides overrides, std::string config_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Blocks SIGHUP, SIGTERM and SIGINT, the signals Run takes from a signalfd, in the calling
  // thread and so in every thread it starts afterwards. Call before anything starts a thread.
  static void BlockSignals();

  // Runs until shut down; returns the process exit status: 0 after a graceful drain, else the
  // class of what kept it from starting (daemon/startup.h). REQUIRES: the signals are blocked
  // in every thread (main calls BlockSignals before anything starts a thread).
  int Run();

  struct Rep;

 private:
  std::unique_ptr<Rep> rep_;
};

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_DAEMON_H_
