// Per-process CPU time and memory from /proc, for "CPU seconds per million requests for every
// process involved": the strategies harness (the benchmark process, redis-server, PostgreSQL
// backends and the rest of the PostgreSQL server) and bench/loadgen (itself and the server it
// loads). The one /proc reader of the benchmarks; scripts/jwtgate_results.py is the scripts'.
// (jwtgated's own process metrics, core/daemon/metrics.cc, read /proc/self themselves: the
// daemon does not depend on benchmark code.)
//
// CPU time is utime + stime of /proc/<pid>/stat (all threads of the process), in clock ticks of
// 1/sysconf(_SC_CLK_TCK) s (10 ms on Linux): over a measurement of a few seconds the error is
// below 1 %. Memory is VmRSS from /proc/<pid>/status and Pss from /proc/<pid>/smaps_rollup
// (resident memory with shared pages divided among their sharers: PostgreSQL's shared buffers
// appear in every backend's RSS but only once in the sum of Pss). The noise around a
// measurement (SampleNoise, NoiseBetween): per-CPU busy and steal ticks from /proc/stat, the
// groups' CPU time, and involuntary context switches summed over a process's threads.
//
// Thread safety: every function reads /proc afresh and keeps no state; callable from any thread.
#ifndef JWTGATE_BENCH_COMMON_PROC_STATS_H_
#define JWTGATE_BENCH_COMMON_PROC_STATS_H_

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace jwtgate::bench {

namespace proc_internal {

// The fields after "(comm)" of /proc/<pid>/stat (comm may contain spaces and parentheses):
// state is [0], ppid [1], utime [11], stime [12].
inline bool StatFields(int pid, std::vector<std::string>* fields) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  fields->clear();
  for (std::string f; rest >> f;) fields->push_back(f);
  return true;
}

// The number after `name` on its line of a /proc file ("VmRSS:", "Pss:"), 0 when absent.
inline long FieldKib(const std::string& path, const char* name) {
  std::ifstream in(path);
  const size_t len = std::strlen(name);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, len, name) == 0) return std::strtol(line.c_str() + len, nullptr, 10);
  }
  return 0;
}

}  // namespace proc_internal

// CPU seconds (user + system) consumed so far by `pid`; a negative value when it is gone.
inline double ProcessCpuSeconds(int pid) {
  std::vector<std::string> f;
  if (!proc_internal::StatFields(pid, &f) || f.size() < 13) return -1;
  static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(std::strtoull(f[11].c_str(), nullptr, 10) +
                             std::strtoull(f[12].c_str(), nullptr, 10)) /
         tick;
}

// VmRSS of `pid` in KiB; 0 when it is gone.
inline long ResidentKib(int pid) {
  return proc_internal::FieldKib("/proc/" + std::to_string(pid) + "/status", "VmRSS:");
}

struct ProcessMemory {
  long rss_kib = 0;
  long pss_kib = 0;  // 0 when smaps_rollup is unreadable
};
inline ProcessMemory ReadProcessMemory(int pid) {
  return {ResidentKib(pid),
          proc_internal::FieldKib("/proc/" + std::to_string(pid) + "/smaps_rollup", "Pss:")};
}

// The parent of `pid` (field 4 of /proc/<pid>/stat), or 0.
inline int ParentPid(int pid) {
  std::vector<std::string> f;
  if (!proc_internal::StatFields(pid, &f) || f.size() < 2) return 0;
  return std::atoi(f[1].c_str());
}

// Every process whose parent is `ppid`.
inline std::vector<int> ChildrenOf(int ppid) {
  std::vector<int> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    if (ParentPid(static_cast<int>(pid)) == ppid) out.push_back(static_cast<int>(pid));
  }
  closedir(dir);
  return out;
}

// The 1, 5 and 15 minute load averages of /proc/loadavg (zeros when unreadable).
inline std::vector<double> LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  return {a, b, c};
}

// A named group of processes whose CPU time is measured together, e.g. "redis-server" or
// "postgres backends". `children_of` > 0 adds, at each sample, every child of that process
// not listed in `exclude` (the PostgreSQL server's other processes: checkpointer, WAL writer,
// autovacuum ...).
struct ProcessGroup {
  std::string name;
  std::vector<int> pids;
  int children_of = 0;
  std::vector<int> exclude;

  // The group's processes at this instant.
  std::vector<int> Members() const {
    std::vector<int> members = pids;
    if (children_of > 0) {
      for (int child : ChildrenOf(children_of)) {
        if (std::find(exclude.begin(), exclude.end(), child) == exclude.end() &&
            std::find(members.begin(), members.end(), child) == members.end()) {
          members.push_back(child);
        }
      }
    }
    return members;
  }
};

// `read(pid)` summed over each group's processes at this instant, by group name.
template <typename T, typename Read>
std::map<std::string, T> SumPerGroup(const std::vector<ProcessGroup>& groups, Read read) {
  std::map<std::string, T> out;
  for (const ProcessGroup& g : groups) {
    T sum{};
    for (int pid : g.Members()) sum += read(pid);
    out[g.name] = sum;
  }
  return out;
}

// CPU seconds per group at one instant (processes that are gone count 0).
inline std::map<std::string, double> SampleCpu(const std::vector<ProcessGroup>& groups) {
  return SumPerGroup<double>(groups, [](int pid) { return std::max(0.0, ProcessCpuSeconds(pid)); });
}

// Memory per group (sums over the group's processes).
inline std::map<std::string, ProcessMemory> SampleMemory(const std::vector<ProcessGroup>& groups) {
  std::map<std::string, ProcessMemory> out;
  for (const ProcessGroup& g : groups) {
    ProcessMemory sum;
    for (int pid : g.Members()) {
      const ProcessMemory m = ReadProcessMemory(pid);
      sum.rss_kib += m.rss_kib;
      sum.pss_kib += m.pss_kib;
    }
    out[g.name] = sum;
  }
  return out;
}

// VmRSS per group (sums over the group's processes), without smaps_rollup's Pss.
inline std::map<std::string, long> SampleResidentKib(const std::vector<ProcessGroup>& groups) {
  return SumPerGroup<long>(groups, ResidentKib);
}

// Involuntary context switches so far of every thread of `pid` (the sum of
// nonvoluntary_ctxt_switches over /proc/<pid>/task/*/status): how often the scheduler took a
// CPU from it while it could run. For this process, getrusage, which keeps the counts of
// threads that have exited.
inline long NonvoluntarySwitches(int pid) {
  if (pid == static_cast<int>(getpid())) {
    rusage ru{};
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nivcsw : 0;
  }
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  long sum = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    sum += proc_internal::FieldKib(dir + "/" + e->d_name + "/status",
                                   "nonvoluntary_ctxt_switches:");
  }
  closedir(d);
  return sum;
}

inline std::map<std::string, long> SampleNonvoluntarySwitches(
    const std::vector<ProcessGroup>& groups) {
  return SumPerGroup<long>(groups, NonvoluntarySwitches);
}

// One CPU's time from /proc/stat, in clock ticks: busy (all but idle and iowait), steal (given
// by the hypervisor to another guest; part of busy), total.
struct CpuTicks {
  unsigned long long busy = 0;
  unsigned long long steal = 0;
  unsigned long long total = 0;
};

// Every CPU's line of /proc/stat ("cpu0", "cpu1", ...), by CPU number.
inline std::map<int, CpuTicks> ReadCpuTicks() {
  std::map<int, CpuTicks> out;
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, 3, "cpu") != 0 || line.size() < 4 || !std::isdigit(line[3])) continue;
    std::istringstream f(line.substr(3));
    int cpu = 0;
    unsigned long long v[8] = {};
    f >> cpu;
    for (unsigned long long& x : v) f >> x;
    CpuTicks t;
    for (unsigned long long x : v) t.total += x;
    t.busy = t.total - v[3] - v[4];  // idle, iowait
    t.steal = v[7];
    out[cpu] = t;
  }
  return out;
}

// What else happened on the machine over a measured window: every CPU's busy and steal time
// (/proc/stat), the CPU time of the measured process groups, and their involuntary context
// switches. Sample at both edges of the window, then NoiseBetween.
struct NoiseSample {
  std::map<int, CpuTicks> cpus;
  std::map<std::string, double> cpu_s;  // per group, SampleCpu
  std::map<std::string, long> nonvoluntary;
};
inline NoiseSample SampleNoise(const std::vector<ProcessGroup>& groups) {
  return {ReadCpuTicks(), SampleCpu(groups), SampleNonvoluntarySwitches(groups)};
}

// The window's noise record. Busy and steal per CPU as fractions of the window; their sums in
// cores; the cores the measured groups account for (their CPU time over the window) and the
// busy cores they do not (other processes, and kernel work such as softirqs that no process is
// charged for): the check that the per-process figures add up to the system's. The groups'
// involuntary context switches over the window.
struct Noise {
  struct Cpu {
    double busy = 0;
    double steal = 0;
  };
  std::map<int, Cpu> cpus;
  double system_busy_cores = 0;
  double steal_cores = 0;
  double measured_cores = 0;
  double unmeasured_cores = 0;  // system_busy_cores - measured_cores
  std::map<std::string, long> nonvoluntary;
};
inline Noise NoiseBetween(const NoiseSample& a, const NoiseSample& b, double window_s) {
  Noise n;
  for (const auto& [cpu, t1] : b.cpus) {
    const auto it = a.cpus.find(cpu);
    if (it == a.cpus.end() || t1.total <= it->second.total) continue;
    const double dt = static_cast<double>(t1.total - it->second.total);
    const Noise::Cpu c{static_cast<double>(t1.busy - it->second.busy) / dt,
                       static_cast<double>(t1.steal - it->second.steal) / dt};
    n.cpus[cpu] = c;
    n.system_busy_cores += c.busy;
    n.steal_cores += c.steal;
  }
  for (const auto& [name, c1] : b.cpu_s) {
    const auto it = a.cpu_s.find(name);
    if (it != a.cpu_s.end() && window_s > 0) n.measured_cores += (c1 - it->second) / window_s;
  }
  n.unmeasured_cores = n.system_busy_cores - n.measured_cores;
  for (const auto& [name, n1] : b.nonvoluntary) {
    const auto it = a.nonvoluntary.find(name);
    n.nonvoluntary[name] = n1 - (it == a.nonvoluntary.end() ? 0 : it->second);
  }
  return n;
}

}  // namespace jwtgate::bench

#endif  // JWTGATE_BENCH_COMMON_PROC_STATS_H_
