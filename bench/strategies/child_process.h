// The servers and load generators the end-to-end rows start (e2e.h): one child process each,
// with its output appended to a log file, that dies with this process (PR_SET_PDEATHSIG) and is
// stopped on every exit path: by the ChildProcess that owns it, or by StopAllChildren from the
// thread that takes INT/TERM/HUP.
#ifndef JWTGATE_BENCH_STRATEGIES_CHILD_PROCESS_H_
#define JWTGATE_BENCH_STRATEGIES_CHILD_PROCESS_H_

#include <sys/types.h>

#include <csignal>
#include <string>
#include <vector>

namespace jwtgate::bench {

// Not thread-safe: one thread owns a ChildProcess (StopAllChildren may run beside it).
class ChildProcess {
 public:
  // Starts argv[0] with stdout and stderr appended to `log_path`, stdin from /dev/null, the
  // signal mask and SIGPIPE reset, and, when `cpus` is not empty, its CPU affinity set to
  // them (before exec: every thread it starts inherits it). Throws std::runtime_error.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
               const std::vector<int>& cpus = {});
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Stop(SIGTERM, 15.0); }

  pid_t pid() const { return pid_; }

  // True while the process runs; reaps it when it has exited.
  bool Running();

  // Waits up to `timeout_s` for the process to exit by itself; then stops it. Returns its
  // exit status (128 + signal when killed).
  int Wait(double timeout_s);

  // Sends `sig`, waits up to `grace_s`, then SIGKILL.
  void Stop(int sig, double grace_s);

  int exit_status() const { return exit_status_; }

 private:
  void Reaped(int status);

  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// Sends SIGTERM to every child still running (callable from any thread, e.g. a signal
// handler thread).
void StopAllChildren();

// The CPUs this process may run on (its affinity), ascending.
std::vector<int> AllowedCpus();

// A CPU list as taskset(1) writes one: "1", "0,2", "0-3,6". False with *error when the
// syntax is wrong or a CPU is not one this process may run on.
bool ParseCpuList(const std::string& text, std::vector<int>* out, std::string* error);

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_STRATEGIES_CHILD_PROCESS_H_
