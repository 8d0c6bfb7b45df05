#include "child_process.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "progress.h"

namespace jwtgate::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Every pid in g_children is stopped by StopAllChildren (a signal) or by the ChildProcess that
// owns it (every other exit path).
std::mutex g_children_mu;
std::vector<pid_t> g_children;  // guarded by g_children_mu

void Register(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_children_mu);
  g_children.push_back(pid);
}

void Unregister(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_children_mu);
  g_children.erase(std::remove(g_children.begin(), g_children.end(), pid), g_children.end());
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                           const std::vector<int>& cpus) {
  cpu_set_t cpu_set;
  CPU_ZERO(&cpu_set);
  for (int cpu : cpus) CPU_SET(cpu, &cpu_set);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) {
    if (log_fd >= 0) ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    throw std::runtime_error("cannot open " + log_path);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec (the parent has threads).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent blocks INT/TERM/HUP
    signal(SIGPIPE, SIG_DFL);                  // the parent ignores it
    if (!cpus.empty() && sched_setaffinity(0, sizeof cpu_set, &cpu_set) != 0) _exit(126);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  ::close(log_fd);
  ::close(null_fd);
  if (pid_ < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  Register(pid_);
}

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  }
  return out;
}

bool ParseCpuList(const std::string& text, std::vector<int>* out, std::string* error) {
  const std::vector<int> allowed = AllowedCpus();
  std::vector<int> cpus;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    // Digits, or digits '-' digits, and nothing else.
    const char* p = item.c_str();
    char* end = nullptr;
    bool ok = std::isdigit(static_cast<unsigned char>(*p)) != 0;
    const long lo = std::strtol(p, &end, 10);
    long hi = lo;
    if (ok && *end == '-') {
      ok = std::isdigit(static_cast<unsigned char>(end[1])) != 0;
      hi = std::strtol(end + 1, &end, 10);
    }
    if (!ok || *end != '\0' || hi < lo || hi >= CPU_SETSIZE) {
      *error = "'" + item + "' is not a CPU or a range of CPUs (e.g. 1, 0-3)";
      return false;
    }
    for (int cpu = static_cast<int>(lo); cpu <= hi; ++cpu) {
      if (std::find(allowed.begin(), allowed.end(), cpu) == allowed.end()) {
        *error = "CPU " + std::to_string(cpu) + " is not one this process may run on";
        return false;
      }
      if (std::find(cpus.begin(), cpus.end(), cpu) == cpus.end()) cpus.push_back(cpu);
    }
    pos = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  *out = std::move(cpus);
  return true;
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  Reaped(status);
  return false;
}

int ChildProcess::Wait(double timeout_s) {
  const auto t0 = Clock::now();
  while (Running() && SecondsSince(t0) < timeout_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (pid_ > 0) Stop(SIGTERM, 5.0);
  return exit_status_;
}

void ChildProcess::Stop(int sig, double grace_s) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  const auto t0 = Clock::now();
  while (Running() && SecondsSince(t0) < grace_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    Reaped(status);
  }
}

void ChildProcess::Reaped(int status) {
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  Unregister(pid_);
  pid_ = -1;
}

void StopAllChildren() {
  std::lock_guard<std::mutex> lock(g_children_mu);
  for (pid_t pid : g_children) ::kill(pid, SIGTERM);
}

}  // namespace jwtgate::bench
